package httpapi

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/kinesis"
)

// maxViolations is how many violations AWS lists in one ValidationException;
// the count in its text stops there too.
const maxViolations = 10

// validator collects model constraint violations and words them as AWS's
// request validation (Coral) does:
//
//	2 validation errors detected: Value null at 'records' failed to satisfy
//	constraint: Member must not be null; Value '' at 'streamName' failed to
//	satisfy constraint: Member must have length greater than or equal to 1
//
// Member paths are lowerCamelCase and list members read
// 'records.1.member.partitionKey' (1-based).
type validator struct {
	msgs []string
}

// err returns the ValidationException for what was collected, or nil.
func (v *validator) err() error {
	if len(v.msgs) == 0 {
		return nil
	}
	plural := "s"
	if len(v.msgs) == 1 {
		plural = ""
	}
	return kinesis.Errorf(kinesis.ErrValidation, "%d validation error%s detected: %s",
		len(v.msgs), plural, strings.Join(v.msgs, "; "))
}

// add records one violation; a nil value prints as null.
func (v *validator) add(path string, value *string, constraint string) {
	if len(v.msgs) >= maxViolations {
		return
	}
	var b strings.Builder
	b.WriteString("Value ")
	if value == nil {
		b.WriteString("null")
	} else {
		b.WriteByte('\'')
		b.WriteString(*value)
		b.WriteByte('\'')
	}
	b.WriteString(" at '")
	b.WriteString(path)
	b.WriteString("' failed to satisfy constraint: ")
	b.WriteString(constraint)
	v.msgs = append(v.msgs, b.String())
}

func (v *validator) null(path string) { v.add(path, nil, "Member must not be null") }

// stringRule is a string shape of the model. Lengths count UTF-16 code
// units, as Java does.
type stringRule struct {
	min, max int // max < 0: no upper bound
	pattern  string
	match    func(string) bool
	enum     []string
}

// str checks an optional string member, or a required one.
func (v *validator) str(path string, s *string, required bool, r *stringRule) {
	if s == nil {
		if required {
			v.null(path)
		}
		return
	}
	v.strValue(path, *s, r)
}

func (v *validator) strValue(path, s string, r *stringRule) {
	if r.enum != nil {
		if !slices.Contains(r.enum, s) {
			v.add(path, &s, "Member must satisfy enum value set: ["+strings.Join(r.enum, ", ")+"]")
		}
		return
	}
	if r.match != nil && !r.match(s) {
		v.add(path, &s, "Member must satisfy regular expression pattern: "+r.pattern)
	}
	n := javaLen(s)
	if n < r.min {
		v.add(path, &s, "Member must have length greater than or equal to "+strconv.Itoa(r.min))
	}
	if r.max >= 0 && n > r.max {
		v.add(path, &s, "Member must have length less than or equal to "+strconv.Itoa(r.max))
	}
}

// intRule is an integer shape's range.
type intRule struct {
	min, max       int64
	hasMin, hasMax bool
}

func atLeast(n int64) intRule      { return intRule{min: n, hasMin: true} }
func between(lo, hi int64) intRule { return intRule{min: lo, max: hi, hasMin: true, hasMax: true} }
func (v *validator) int32(path string, n *int32, required bool, r intRule) {
	if n == nil {
		if required {
			v.null(path)
		}
		return
	}
	s := strconv.FormatInt(int64(*n), 10)
	if r.hasMin && int64(*n) < r.min {
		v.add(path, &s, "Member must have value greater than or equal to "+strconv.FormatInt(r.min, 10))
	}
	if r.hasMax && int64(*n) > r.max {
		v.add(path, &s, "Member must have value less than or equal to "+strconv.FormatInt(r.max, 10))
	}
}

// blob checks a blob member; present tells an empty blob from a missing one.
func (v *validator) blob(path string, b []byte, present, required bool, max int) {
	if !present {
		if required {
			v.null(path)
		}
		return
	}
	if len(b) > max {
		s := "java.nio.HeapByteBuffer[pos=0 lim=" + strconv.Itoa(len(b)) + " cap=" + strconv.Itoa(len(b)) + "]"
		v.add(path, &s, "Member must have length less than or equal to "+strconv.Itoa(max))
	}
}

// count checks the size of a list or map whose value prints as shown.
func (v *validator) count(path string, n int, shown func() string, min, max int) {
	if n < min {
		s := shown()
		v.add(path, &s, "Member must have length greater than or equal to "+strconv.Itoa(min))
	}
	if max >= 0 && n > max {
		s := shown()
		v.add(path, &s, "Member must have length less than or equal to "+strconv.Itoa(max))
	}
}

// strList checks a list of strings: its size, then its members, reported
// once for the whole list as Coral does.
func (v *validator) strList(path string, l []string, required bool, min, max int, elem *stringRule) {
	if l == nil {
		if required {
			v.null(path)
		}
		return
	}
	shown := func() string { return "[" + strings.Join(l, ", ") + "]" }
	v.count(path, len(l), shown, min, max)
	if slices.ContainsFunc(l, func(s string) bool { return !lengthOK(s, elem) }) {
		s := shown()
		v.add(path, &s, "Member must satisfy constraint: ["+lengthConstraints(elem)+"]")
	}
}

// strMap checks a map of strings: its size, then its keys, then its values.
func (v *validator) strMap(path string, m map[string]string, required bool, min, max int, key, val *stringRule) {
	if m == nil {
		if required {
			v.null(path)
		}
		return
	}
	shown := func() string {
		keys := sortedKeys(m)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + m[k]
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	v.count(path, len(m), shown, min, max)
	badKey, badVal := false, false
	for k, val2 := range m {
		badKey = badKey || !lengthOK(k, key)
		badVal = badVal || !lengthOK(val2, val)
	}
	if badKey {
		s := shown()
		v.add(path, &s, "Map keys must satisfy constraint: ["+lengthConstraints(key)+"]")
	}
	if badVal {
		s := shown()
		v.add(path, &s, "Map value must satisfy constraint: ["+lengthConstraints(val)+"]")
	}
}

func lengthOK(s string, r *stringRule) bool {
	n := javaLen(s)
	return n >= r.min && (r.max < 0 || n <= r.max)
}

func lengthConstraints(r *stringRule) string {
	return "Member must have length less than or equal to " + strconv.Itoa(r.max) +
		", Member must have length greater than or equal to " + strconv.Itoa(r.min)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// javaLen is the length of s in UTF-16 code units, the unit of the model's
// length constraints.
func javaLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// Character classes of Java regular expressions, which the model's
// patterns are: '.' stops at line terminators, \S is [^ \t\n\x0B\f\r].
const (
	javaDot    = `[^\n\r\x{85}\x{2028}\x{2029}]`
	javaNonSpc = `[^ \t\n\x0B\f\r]`
)

var (
	streamARNRegexp   = regexp.MustCompile(`^arn:aws` + javaDot + `*:kinesis:` + javaDot + `*:[0-9]{12}:stream/` + javaNonSpc + `+$`)
	resourceARNRegexp = regexp.MustCompile(`^arn:aws` + javaDot + `*:kinesis:` + javaDot + `*:[0-9]{12}:` + javaDot + `*stream/` + javaNonSpc + `+$`)
)

// Shapes of the model, as rules.
var (
	streamNameRule     = &stringRule{min: 1, max: 128, pattern: `[a-zA-Z0-9_.-]+`, match: isNameChars}
	shardIDRule        = &stringRule{min: 1, max: 128, pattern: `[a-zA-Z0-9_.-]+`, match: isNameChars}
	streamARNRule      = &stringRule{min: 1, max: 2048, pattern: `arn:aws.*:kinesis:.*:\d{12}:stream/\S+`, match: streamARNRegexp.MatchString}
	resourceARNRule    = &stringRule{min: 1, max: 2048, pattern: `arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+`, match: resourceARNRegexp.MatchString}
	partitionKeyRule   = &stringRule{min: 1, max: 256}
	hashKeyRule        = &stringRule{min: 0, max: -1, pattern: `0|([1-9]\d{0,38})`, match: func(s string) bool { return isDecimal(s, 39) }}
	sequenceNumberRule = &stringRule{min: 0, max: -1, pattern: `0|([1-9]\d{0,128})`, match: func(s string) bool { return isDecimal(s, 129) }}
	shardIteratorRule  = &stringRule{min: 1, max: 512}
	nextTokenRule      = &stringRule{min: 1, max: 1048576}
	tagKeyRule         = &stringRule{min: 1, max: 128}
	tagValueRule       = &stringRule{min: 0, max: 256}
	// Enum value sets are printed in the order AWS prints them.
	iteratorTypeRule = &stringRule{enum: []string{
		string(kinesis.AfterSequenceNumber), string(kinesis.Latest), string(kinesis.AtTimestamp),
		string(kinesis.AtSequenceNumber), string(kinesis.TrimHorizon)}}
	streamModeRule  = &stringRule{enum: []string{string(kinesis.ModeProvisioned), string(kinesis.ModeOnDemand)}}
	shardFilterRule = &stringRule{enum: []string{
		string(kinesis.FilterAfterShardID), string(kinesis.FilterAtTrimHorizon), string(kinesis.FilterFromTrimHorizon),
		string(kinesis.FilterAtLatest), string(kinesis.FilterAtTimestamp), string(kinesis.FilterFromTimestamp)}}
)

// Model bounds of list, map, blob and integer members.
const (
	maxDataBytes       = 10 << 20 // Data blob, 10485760 in the model
	maxTagMapEntries   = 200
	maxTagKeyListItems = 50
)

// isNameChars matches [a-zA-Z0-9_.-]+.
func isNameChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// isDecimal matches 0|([1-9]\d{0,max-1}).
func isDecimal(s string, max int) bool {
	if s == "0" {
		return true
	}
	if s == "" || len(s) > max || s[0] < '1' || s[0] > '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// streamRefMembers validates the StreamName and StreamARN members that
// every stream-scoped input has; both are optional in the model.
func (v *validator) streamRefMembers(name, arn *string) {
	v.str("streamName", name, false, streamNameRule)
	v.str("streamARN", arn, false, streamARNRule)
}

// streamRef builds the reference of a stream-scoped request whose members
// passed validation. Telling a name and an ARN that disagree apart is the
// service's job.
func streamRef(name, arn *string) (kinesis.StreamRef, error) {
	ref := kinesis.StreamRef{Name: deref(name), ARN: deref(arn)}
	if ref.Name == "" && ref.ARN == "" {
		return ref, invalidArgument("Either StreamName or StreamARN should be provided.")
	}
	return ref, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// checkTagChars enforces the characters tags may use, as AWS does:
// Unicode letters, digits, white space (space separators, not tabs or
// newlines) and _ . / = + - % @. It is an InvalidArgumentException, not a
// model pattern.
func checkTagChars(strs ...string) error {
	for _, s := range strs {
		for _, r := range s {
			if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Z, r) || strings.ContainsRune(kinesis.TagPunctuation, r) {
				continue
			}
			return invalidArgument("Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - %% @.")
		}
	}
	return nil
}

// afterExistence returns err, a check of a request's tags, only once the
// resource the request names is found to exist (exists returns nil): AWS
// looks the resource up before it checks tag characters.
func (h *Handler) afterExistence(err error, exists func() error) error {
	if err == nil {
		return nil
	}
	if e := exists(); e != nil && kinesis.CodeOf(e) == kinesis.ErrResourceNotFound {
		return e
	}
	return err
}

// checkTagMapChars applies checkTagChars to every key and value of m.
func checkTagMapChars(m map[string]string) error {
	for k, val := range m {
		if err := checkTagChars(k, val); err != nil {
			return err
		}
	}
	return nil
}
