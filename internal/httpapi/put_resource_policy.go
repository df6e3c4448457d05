package httpapi

import "context"

// PutResourcePolicy attaches a policy to a stream or consumer named by
// ResourceARN, replacing any it had, and answers with an empty body.
// Checked here: the model (both members required). That the policy is a
// JSON object with a Statement (InvalidArgumentException otherwise) and
// that the resource exists are the service's. Deviation: the policy is
// stored and returned but never enforced, as this server authorizes
// nothing; nor are its principals and actions checked as AWS does.

type putResourcePolicyInput struct {
	ResourceARN *string `json:"ResourceARN"`
	Policy      *string `json:"Policy"`
}

var policyRule = &stringRule{min: 0, max: -1}

func (h *Handler) putResourcePolicy(ctx context.Context, c codec, body []byte, out func() []byte) ([]byte, error) {
	var in putResourcePolicyInput
	if err := c.decode(body, &in); err != nil {
		return nil, err
	}
	var v validator
	v.str("resourceARN", in.ResourceARN, true, resourceARNRule)
	v.str("policy", in.Policy, true, policyRule)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := h.svc.PutResourcePolicy(ctx, *in.ResourceARN, *in.Policy); err != nil {
		return nil, err
	}
	return out(), nil
}
