package dynamodb

import "strconv"

// DynamoDB's documented limits on expressions and items
// (developerguide/ServiceQuotas.html, "Expression parameters" and
// "Attributes"), enforced where input is parsed so that every operation
// that takes an expression or an item gets them. Besides matching
// DynamoDB, they bound the work and memory one request can cost: the
// expression parser recurses, and nothing it is given can make it recurse
// deeper than maxExpressionDepth or allocate for more than
// maxExpressionBytes of text.
const (
	// maxExpressionBytes caps every expression string (condition, filter,
	// key condition, update, projection). Checked before the expression
	// is even tokenized.
	maxExpressionBytes = 4 << 10
	// maxOperators caps the operators and functions of one expression
	// (comparators, AND, OR, NOT, BETWEEN, IN, + and -, function calls).
	// DynamoDB documents it for update expressions and applies it to
	// conditions too ("operator count: 301").
	maxOperators = 300
	// maxInOperands caps the candidates of one IN.
	maxInOperands = 100
	// maxPathDepth caps the elements of one document path (a.b[0].c is 4).
	maxPathDepth = 32
	// maxExpressionDepth caps the nesting of parentheses, NOT and function
	// calls, which the parser descends into recursively. Each NOT and call
	// also counts as an operator, so beyond maxOperators only redundant
	// parentheses could nest deeper, which DynamoDB rejects as well.
	maxExpressionDepth = maxOperators
	// maxPlaceholderBytes caps each key of ExpressionAttributeNames
	// ("#name") and ExpressionAttributeValues (":value").
	maxPlaceholderBytes = 255
	// maxSubstitutionBytes caps the sum of the sizes of all expression
	// attribute names and values of a request: keys, names, and values as
	// items count them.
	maxSubstitutionBytes = 2 << 20
	// maxNestingLevels caps the depth of nested lists and maps: a
	// top-level attribute is at level 1, an element of a list or map at
	// its container's level plus one.
	maxNestingLevels = 32
	// maxItemSize is DynamoDB's item size limit.
	maxItemSize = 400 << 10
)

// Messages of the limits, in DynamoDB's words. The expression messages
// get the "Invalid <Kind>Expression: " prefix from the caller.
const (
	msgNestingLevels  = "Nesting Levels have exceeded supported limits"
	msgItemSize       = "Item size has exceeded the maximum allowed size"
	msgSubstitutions  = "ExpressionAttributeValues exceeds max size"
	msgRedundantParen = "The expression has redundant parentheses;"
)

func msgExpressionSize(n int) string {
	return "Expression size has exceeded the maximum allowed size; expression size: " + strconv.Itoa(n)
}

func msgOperatorCount(n int) string {
	return "The expression contains too many operators; operator count: " + strconv.Itoa(n)
}

func msgInOperands(n int) string {
	return "The IN operator is provided with too many operands; number of operands: " + strconv.Itoa(n)
}

func msgPathDepth(n int) string {
	return "The document path has too many nesting levels; nesting levels: " + strconv.Itoa(n)
}

func msgPlaceholderSize(member string, n int) string {
	return member + " contains invalid key: key too long; size of key: " + strconv.Itoa(n)
}

// depth is the nesting level of v's deepest value, v itself at level 1.
// It stops counting past limit, so a hostile value costs no more than
// limit levels of recursion.
func (v Value) depth(limit int) int {
	if limit <= 0 {
		return 1
	}
	d := 0
	switch v.Type {
	case typeL:
		for _, e := range v.L {
			d = max(d, e.depth(limit-1))
		}
	case typeM:
		for _, e := range v.M {
			d = max(d, e.depth(limit-1))
		}
	}
	return 1 + d
}

// tooDeep reports whether a value of it nests deeper than
// maxNestingLevels.
func (it Item) tooDeep() bool {
	for _, v := range it {
		if v.depth(maxNestingLevels) > maxNestingLevels {
			return true
		}
	}
	return false
}
