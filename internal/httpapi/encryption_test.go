package httpapi

import (
	"context"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/kinesis"
)

func (f *fakeService) StartStreamEncryption(ctx context.Context, ref kinesis.StreamRef, encryptionType, keyID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("StartStreamEncryption", []string{encryptionType, keyID}); err != nil {
		return err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return err
	}
	s.EncryptionType, s.KeyID = encryptionType, keyID
	return nil
}

func (f *fakeService) StopStreamEncryption(ctx context.Context, ref kinesis.StreamRef, encryptionType, keyID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("StopStreamEncryption", []string{encryptionType, keyID}); err != nil {
		return err
	}
	s, err := f.lookup(ref)
	if err != nil {
		return err
	}
	s.EncryptionType, s.KeyID = "", ""
	return nil
}

// TestStreamEncryption_Validation checks the model validation of Start-
// and StopStreamEncryption, the same for both.
func TestStreamEncryption_Validation(t *testing.T) {
	tests := []struct {
		op, body string
		code     string
		want     string
	}{
		{"StartStreamEncryption", `{"StreamName":"s"}`, "ValidationException",
			"2 validation errors detected: " +
				"Value null at 'encryptionType' failed to satisfy constraint: Member must not be null; " +
				"Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"StopStreamEncryption", `{"StreamName":"s","EncryptionType":"AES","KeyId":""}`, "ValidationException",
			"2 validation errors detected: " +
				"Value 'AES' at 'encryptionType' failed to satisfy constraint: Member must satisfy enum value set: [NONE, KMS]; " +
				"Value '' at 'keyId' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"StartStreamEncryption", `{"EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}`, "InvalidArgumentException",
			"Either StreamName or StreamARN should be provided."},
		{"StartStreamEncryption", `{"StreamName":"nope","EncryptionType":"KMS","KeyId":"alias/aws/kinesis"}`, "ResourceNotFoundException",
			"Stream nope under account 123456789012 not found."},
	}
	h := New(newFakeService(), Options{})
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			rec := serve(h, newRequest(tt.op, tt.body))
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			e := readError(t, rec)
			if e.Code != tt.code || e.Message != tt.want {
				t.Errorf("got %s: %s\nwant %s: %s", e.Code, e.Message, tt.code, tt.want)
			}
		})
	}
}

// TestStreamEncryption_Calls checks that both operations reach the service
// with their arguments and answer an empty body.
func TestStreamEncryption_Calls(t *testing.T) {
	f := newFakeService()
	if err := f.CreateStream(context.Background(), kinesis.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	h := New(f, Options{})
	for _, op := range []string{"StartStreamEncryption", "StopStreamEncryption"} {
		rec := serve(h, newRequest(op, `{"StreamName":"s","EncryptionType":"KMS","KeyId":"alias/mine"}`))
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Fatalf("%s: status %d, body %q", op, rec.Code, rec.Body)
		}
		got, _ := f.lastCall(op).([]string)
		if len(got) != 2 || got[0] != "KMS" || got[1] != "alias/mine" {
			t.Errorf("%s: service got %v", op, got)
		}
	}
}

// TestKMSErrors checks that the KMS exceptions go out with their names,
// the one without the Exception suffix included, and status 400.
func TestKMSErrors(t *testing.T) {
	for _, code := range []kinesis.ErrorCode{kinesis.ErrKMSNotFound, kinesis.ErrKMSInvalidState, kinesis.ErrKMSAccessDenied,
		kinesis.ErrKMSDisabled, kinesis.ErrKMSOptInRequired, kinesis.ErrKMSThrottling} {
		f := newFakeService()
		f.fail = kinesis.Errorf(code, "boom")
		rec := serve(New(f, Options{}), newRequest("StartStreamEncryption", `{"StreamName":"s","EncryptionType":"KMS","KeyId":"k"}`))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", code, rec.Code)
		}
		if e := readError(t, rec); e.Code != string(code) || e.Message != "boom" {
			t.Errorf("%s: got %s: %s", code, e.Code, e.Message)
		}
	}
}
