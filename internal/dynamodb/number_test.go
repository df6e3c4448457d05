package dynamodb

import "testing"

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct{ in, want, msg string }{
		{"0", "0", ""},
		{"-0.000", "0", ""},
		{"007", "7", ""},
		{"12.50", "12.5", ""},
		{"-1e3", "-1000", ""},
		{"1.5E-3", "0.0015", ""},
		{"+4", "4", ""},
		{".5", "0.5", ""},
		{"5.", "5", ""},
		{"12345678901234567890123456789012345678", "12345678901234567890123456789012345678", ""},
		{"123456789012345678901234567890123456789", "", "Attempting to store more than 38 significant digits in a Number"},
		{"1000000000000000000000000000000000000000000", "1000000000000000000000000000000000000000000", ""},
		{"9.9999999999999999999999999999999999999E+125", "999999999999999999999999999999999999990000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", ""},
		{"1E+126", "", "Number overflow. Attempting to store a number with magnitude larger than supported range"},
		{"1E-130", "0." + zeros(129) + "1", ""},
		{"1E-131", "", "Number underflow. Attempting to store a number with magnitude smaller than supported range"},
		{"", "", "The parameter cannot be converted to a numeric value"},
		{"abc", "", "The parameter cannot be converted to a numeric value: abc"},
		{"1e", "", "The parameter cannot be converted to a numeric value: 1e"},
		{"0x10", "", "The parameter cannot be converted to a numeric value: 0x10"},
		{"Infinity", "", "The parameter cannot be converted to a numeric value: Infinity"},
		{"1e99999999", "", "The parameter cannot be converted to a numeric value: 1e99999999"},
		{"1/2", "", "The parameter cannot be converted to a numeric value: 1/2"},
	} {
		got, msg := parseNumber(tc.in)
		if got != tc.want || msg != tc.msg {
			t.Errorf("parseNumber(%q) = %q, %q; want %q, %q", tc.in, got, msg, tc.want, tc.msg)
		}
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func TestAddNumbers(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		sub  bool
		want string
	}{
		{"1", "1", false, "2"},
		{"0.1", "0.2", false, "0.3"},
		{"5", "7.5", true, "-2.5"},
		{"12345678901234567890123456789012345677", "1", false, "12345678901234567890123456789012345678"},
	} {
		got, msg := addNumbers(tc.a, tc.b, tc.sub)
		if got != tc.want || msg != "" {
			t.Errorf("addNumbers(%s, %s, %v) = %q, %q; want %q", tc.a, tc.b, tc.sub, got, msg, tc.want)
		}
	}
	if _, msg := addNumbers("12345678901234567890123456789012345678", "0.1", false); msg == "" {
		t.Error("a sum of 39 significant digits was accepted")
	}
	if c := compareNumbers("10", "9.99"); c <= 0 {
		t.Errorf("compareNumbers(10, 9.99) = %d", c)
	}
}
