// Package keyring keeps the named 256-bit keys that stand in for AWS KMS
// keys: Sluice encrypts streams under them when StartStreamEncryption
// asks. A key has a UUID id and any number of alias names (alias/...);
// DefaultAlias (alias/aws/kinesis) always exists. Keys live in a JSON file
// (mode 0600) that every server of a cluster must share:
//
//	{"keys": [{"id": "8f0c…", "aliases": ["alias/aws/kinesis"],
//	           "material": "<32 bytes, base64>", "createdAt": "…"}]}
//
// The keys never encrypt records themselves: they wrap per-stream data
// keys (Wrap, Unwrap), and only the wrapped form is stored with the data.
//
// Example:
//
//	kr, _, err := keyring.Open("/etc/sluice/keyring.json", true)
//	if err != nil {
//		return err
//	}
//	ref, ok := keyring.ParseKeyID("arn:aws:kms:us-east-1:000000000000:alias/aws/kinesis")
//	if !ok {
//		return errors.New("not a KeyId")
//	}
//	id, err := kr.Lookup(ref.Name)
//	if err != nil {
//		return err // errors.Is(err, keyring.ErrNotFound)
//	}
//	wrapped, err := kr.Wrap(id, dataKey, []byte("stream id"))
package keyring
