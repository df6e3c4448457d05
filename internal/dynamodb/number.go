package dynamodb

import (
	"math/big"
	"strings"
)

// DynamoDB numbers are decimals of at most 38 significant digits, with
// magnitudes from 1E-130 to 9.99…E+125 (and zero). They are kept as
// canonical decimal strings (no exponent, no superfluous zeros) and
// computed on with math/big.Rat, which is exact for them.

const (
	maxNumberDigits = 38
	maxNumberExp    = 125  // largest power of ten of a leading digit
	minNumberExp    = -130 // smallest
)

// parseNumber checks s as a DynamoDB number and returns its canonical form,
// or the ValidationException message DynamoDB gives.
func parseNumber(s string) (string, string) {
	r, ok := numberRat(s)
	if !ok {
		if s == "" {
			return "", "The parameter cannot be converted to a numeric value"
		}
		return "", "The parameter cannot be converted to a numeric value: " + s
	}
	return canonicalNumber(r)
}

// numberRat parses the decimal syntax DynamoDB accepts: an optional sign,
// digits with an optional point, an optional exponent. No hex, no Inf.
func numberRat(s string) (*big.Rat, bool) {
	t := s
	if t != "" && (t[0] == '-' || t[0] == '+') {
		t = t[1:]
	}
	mant, exp, hasExp := strings.Cut(t, "e")
	if !hasExp {
		mant, exp, hasExp = strings.Cut(t, "E")
	}
	digits := 0
	point := false
	for i := 0; i < len(mant); i++ {
		switch c := mant[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			return nil, false
		}
	}
	if digits == 0 {
		return nil, false
	}
	if hasExp {
		e := exp
		if e != "" && (e[0] == '-' || e[0] == '+') {
			e = e[1:]
		}
		if e == "" || len(e) > 6 {
			return nil, false
		}
		for i := 0; i < len(e); i++ {
			if e[i] < '0' || e[i] > '9' {
				return nil, false
			}
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// canonicalNumber checks r against DynamoDB's limits and formats it.
func canonicalNumber(r *big.Rat) (string, string) {
	if r.Sign() == 0 {
		return "0", ""
	}
	// Every valid number has a denominator dividing 10^130.
	s := r.FloatString(-minNumberExp + 2)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	// Anything below 1E-130 shows as zeros (or a remainder the check
	// below catches): underflow.
	rest := new(big.Rat).Sub(new(big.Rat).Abs(r), mustRat(intPart+"."+frac))
	frac = strings.TrimRight(frac, "0")
	intPart = strings.TrimLeft(intPart, "0")
	var lead int // power of ten of the leading digit
	var sig string
	switch {
	case intPart != "":
		lead = len(intPart) - 1
		sig = strings.TrimRight(intPart+frac, "0")
	case frac != "":
		z := len(frac) - len(strings.TrimLeft(frac, "0"))
		lead = -z - 1
		sig = frac[z:]
	default:
		return "", "Number underflow. Attempting to store a number with magnitude smaller than supported range"
	}
	if lead > maxNumberExp {
		return "", "Number overflow. Attempting to store a number with magnitude larger than supported range"
	}
	if lead < minNumberExp {
		return "", "Number underflow. Attempting to store a number with magnitude smaller than supported range"
	}
	if rest.Sign() != 0 || len(sig) > maxNumberDigits {
		return "", "Attempting to store more than 38 significant digits in a Number"
	}
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out, ""
}

func mustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// compareNumbers compares two canonical numbers.
func compareNumbers(a, b string) int {
	if a == b {
		return 0
	}
	return mustRat(a).Cmp(mustRat(b))
}

// addNumbers returns a+b (or a-b) in canonical form, or DynamoDB's message
// when the result is out of range.
func addNumbers(a, b string, subtract bool) (string, string) {
	x, y := mustRat(a), mustRat(b)
	if subtract {
		return canonicalNumber(x.Sub(x, y))
	}
	return canonicalNumber(x.Add(x, y))
}
