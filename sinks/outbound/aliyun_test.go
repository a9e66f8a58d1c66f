package outbound

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
)

// TestAliyunSignatureDocExamples: the signature reproduces the worked
// examples Aliyun publishes: the SMS documentation's SendSms request
// (“HTTP协议及签名”, AccessKey testId / testSecret) and the RPC signature
// documentation's DescribeRegions request (testid / testsecret).
func TestAliyunSignatureDocExamples(t *testing.T) {
	sms := url.Values{
		"AccessKeyId": {"testId"}, "Action": {"SendSms"}, "Format": {"XML"}, "OutId": {"123"},
		"PhoneNumbers": {"15300000001"}, "RegionId": {"cn-hangzhou"}, "SignName": {"阿里云短信测试专用"},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {"45e25e9b-0a6f-4070-8c85-2956eda1b466"},
		"SignatureVersion": {"1.0"}, "TemplateCode": {"SMS_71390007"}, "TemplateParam": {`{"customer":"test"}`},
		"Timestamp": {"2017-07-12T02:42:19Z"}, "Version": {"2017-05-25"},
	}
	withSignature := url.Values{}
	for k, v := range sms {
		withSignature[k] = v
	}
	withSignature.Set("Signature", "left out")
	rpc := url.Values{
		"AccessKeyId": {"testid"}, "Action": {"DescribeRegions"}, "Format": {"XML"},
		"SignatureMethod": {"HMAC-SHA1"}, "SignatureNonce": {"3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"},
		"SignatureVersion": {"1.0"}, "Timestamp": {"2016-02-23T12:46:24Z"}, "Version": {"2014-05-26"},
	}
	tests := []struct {
		name   string
		method string
		params url.Values
		secret string
		want   string
	}{
		{"sms doc", "GET", sms, "testSecret", "zJDF+Lrzhj/ThnlvIToysFRq6t4="},
		{"sms doc with a Signature parameter", "GET", withSignature, "testSecret", "zJDF+Lrzhj/ThnlvIToysFRq6t4="},
		{"rpc doc", "GET", rpc, "testsecret", "OLeaidS1JvxuMvnyHOwuJ+uX5qY="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AliyunSignature(tt.method, tt.params, tt.secret); got != tt.want {
				t.Fatalf("AliyunSignature = %q, want %q", got, tt.want)
			}
		})
	}
	if AliyunSignature("POST", sms, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4=" {
		t.Error("the method is not signed")
	}
}

func TestPopEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a b", "a%20b"}, {"*", "%2A"}, {"~-_.", "~-_."}, {"/=&+", "%2F%3D%26%2B"},
		{"投诉", "%E6%8A%95%E8%AF%89"}, {`{"ref":"TS-1"}`, "%7B%22ref%22%3A%22TS-1%22%7D"},
	}
	for _, tt := range tests {
		if got := popEscape(tt.in); got != tt.want {
			t.Errorf("popEscape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

const (
	testKeyID     = "LTAI5tQz8kH2vXm9Wr3nPq7d"
	testKeySecret = "nV4pR8sT2wY6zA1cE5gJ9kM3oQ7uX0"
)

// aliyunServer is a test SendSms endpoint: it checks the request format
// and signature like the API does and answers status and body.
type aliyunServer struct {
	tb     testing.TB
	mu     sync.Mutex
	status int
	body   string
	forms  []url.Values
}

func (s *aliyunServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(b))
	switch {
	case r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || err != nil:
		s.tb.Errorf("request %s %s: %v", r.Method, r.Header.Get("Content-Type"), err)
	case form.Get("Signature") != AliyunSignature("POST", form, testKeySecret):
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"RequestId":"8D9E6C5A-1B2C-4D3E-9F0A-1B2C3D4E5F60","HostId":"dysmsapi.aliyuncs.com","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation."}`)
		return
	}
	s.mu.Lock()
	s.forms = append(s.forms, form)
	status, body := s.status, s.body
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (s *aliyunServer) received() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.forms...)
}

// The documented answers of SendSms.
const aliyunOK = `{"Message":"OK","RequestId":"F655A8D5-B967-440B-8683-DAD6FF8DE990","Code":"OK","BizId":"900619746936498440^0"}`

func aliyunError(code, message string) string {
	return `{"Message":"` + message + `","RequestId":"2184201F-BFB3-446B-B1F2-C746B7BF0657","Code":"` + code + `"}`
}

func aliyunConfig(endpoint string) AliyunConfig {
	cfg := SMSConfig{Provider: ProviderAliyun, Aliyun: AliyunConfig{
		Endpoint: endpoint, AccessKeyID: secret.Inline(testKeyID), AccessKeySecret: secret.Inline(testKeySecret),
		SignName: "浦江通信客服",
		Templates: map[router.MessageKind]AliyunTemplate{
			router.MessageAck:    {Code: "SMS_468201135"},
			router.MessageReply:  {Code: "SMS_468201136", Params: map[string]string{"ref": "reference", "content": "text"}},
			router.MessageResult: {Code: "SMS_468201137", Params: map[string]string{"ref": "reference", "result": "result"}},
		},
	}}
	cfg.Provision()
	return cfg.Aliyun
}

func newTestAliyun(tb testing.TB, status int, body string) (*Aliyun, *aliyunServer) {
	tb.Helper()
	return newTestAliyunLogged(tb, status, body, nil)
}

func newTestAliyunLogged(tb testing.TB, status int, body string, logger *zap.Logger) (*Aliyun, *aliyunServer) {
	tb.Helper()
	srv := &aliyunServer{tb: tb, status: status, body: body}
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	a, err := NewAliyun(aliyunConfig(hs.URL+"/"), nil, logger)
	if err != nil {
		tb.Fatal(err)
	}
	a.now = func() time.Time { return time.Date(2026, 3, 5, 17, 12, 30, 0, time.FixedZone("CST", 8*3600)) }
	a.nonce = func() string { return "c1d0e4a2-7b3f-4e59-9a61-0f8d2b7c5e13" }
	return a, srv
}

func TestAliyunSendRequest(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	a, srv := newTestAliyunLogged(t, http.StatusOK, aliyunOK, zap.New(core))
	m := ackSMS()
	if err := a.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	forms := srv.received()
	if len(forms) != 1 {
		t.Fatalf("%d calls, want 1", len(forms))
	}
	f := forms[0]
	want := map[string]string{
		"Action": "SendSms", "Version": "2017-05-25", "Format": "JSON", "RegionId": "cn-hangzhou", "AccessKeyId": testKeyID,
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "SignatureNonce": "c1d0e4a2-7b3f-4e59-9a61-0f8d2b7c5e13",
		"Timestamp": "2026-03-05T09:12:30Z", "PhoneNumbers": "13812345678", "SignName": "浦江通信客服",
		"TemplateCode": "SMS_468201135", "OutId": "TS20260305-0042/ack/1",
		"TemplateParam": `{"deadline":"2026年3月11日","reference":"TS20260305-0042","status_url":"https://tousu.example.com/status?ref=TS20260305-0042&t=9f2c"}`,
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, f.Get(k), v)
		}
	}
	if len(f) != len(want)+1 {
		t.Errorf("%d parameters, want %d and Signature: %v", len(f), len(want), f)
	}

	// A reply maps the template's variables to the message's values.
	reply := ackSMS()
	reply.ID, reply.Kind, reply.Params = "TS20260305-0042/reply/act-7", router.MessageReply, nil
	reply.Text = "张先生您好，您反映的宽带掉线问题已派单，师傅明天（3月6日）上午上门。"
	if err := a.Send(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	if got := srv.received()[1].Get("TemplateParam"); got != `{"content":"张先生您好，您反映的宽带掉线问题已派单，师傅明天（3月6日）上午上门。","ref":"TS20260305-0042"}` {
		t.Errorf("reply TemplateParam %s", got)
	}
	if logs.Len() != 2 {
		t.Errorf("%d log entries, want one per accepted message", logs.Len())
	}
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		if strings.Contains(e.Message+string(b), "13812345678") || strings.Contains(string(b), testKeySecret) || e.ContextMap()["biz_id"] != "900619746936498440^0" {
			t.Errorf("log entry %s %s", e.Message, b)
		}
	}
}

func TestAliyunAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"ok", 200, aliyunOK, "ok"},
		{"minute flow control", 200, aliyunError("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"), "temporary"},
		{"daily quota", 200, aliyunError("isv.DAY_LIMIT_CONTROL", "触发日发送限额"), "temporary"},
		{"api flow control", 400, `{"RequestId":"0E4A1B2C-3D4E-5F60-7A8B-9C0D1E2F3A4B","HostId":"dysmsapi.aliyuncs.com","Code":"Throttling.User","Message":"Request was denied due to user flow control.","Recommend":"https://api.aliyun.com/troubleshoot?q=Throttling.User&product=Dysmsapi"}`, "temporary"},
		{"system error", 200, aliyunError("isp.SYSTEM_ERROR", "isp.SYSTEM_ERROR"), "temporary"},
		{"5xx with a code", 500, aliyunError("InternalError", "The request processing has failed due to some unknown error."), "temporary"},
		{"5xx from a proxy", 502, "<html><body>502 Bad Gateway</body></html>", "temporary"},
		{"2xx that is not the API's", 200, "<html>维护中</html>", "temporary"},
		{"invalid number", 200, aliyunError("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"), "permanent"},
		{"template", 200, aliyunError("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板"), "permanent"},
		{"signature name", 200, aliyunError("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名"), "permanent"},
		{"missing parameters", 200, aliyunError("isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值"), "permanent"},
		{"out of service", 200, aliyunError("isv.OUT_OF_SERVICE", "业务停机"), "permanent"},
		{"permission", 200, aliyunError("isp.RAM_PERMISSION_DENY", "RAM权限DENY"), "permanent"},
		{"key", 404, `{"RequestId":"5C8A3E71-0F2B-4D6A-8E9C-1B3D5F7A9C0E","HostId":"dysmsapi.aliyuncs.com","Code":"InvalidAccessKeyId.NotFound","Message":"Specified access key is not found."}`, "permanent"},
		{"4xx page", 403, "<html>Forbidden</html>", "permanent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := newTestAliyun(t, tt.status, tt.body)
			err := a.Send(context.Background(), ackSMS())
			if got := outcome(err); got != tt.want {
				t.Fatalf("%s: %v, want %s", got, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "13812345678") {
				t.Fatalf("the error shows the number: %v", err)
			}
		})
	}
}

// TestAliyunSignatureRefused: a signature the API does not accept (a
// wrong secret) is permanent, and the error names the code.
func TestAliyunSignatureRefused(t *testing.T) {
	a, srv := newTestAliyun(t, http.StatusOK, aliyunOK)
	a.secret = "another-secret"
	err := a.Send(context.Background(), ackSMS())
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") || strings.Contains(err.Error(), "another-secret") {
		t.Fatalf("Send = %v", err)
	}
	if len(srv.received()) != 0 {
		t.Fatal("the server accepted a bad signature")
	}
}

func TestAliyunErrorHidesTheNumber(t *testing.T) {
	a, _ := newTestAliyun(t, http.StatusOK, aliyunError("isv.MOBILE_NUMBER_ILLEGAL", "号码13812345678格式错误，请核对"))
	err := a.Send(context.Background(), ackSMS())
	if !errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), "13812345678") || !strings.Contains(err.Error(), "isv.MOBILE_NUMBER_ILLEGAL") {
		t.Fatalf("Send = %v", err)
	}
}

// TestAliyunRefusesBeforeCalling: what cannot be sent fails permanently
// without a call.
func TestAliyunRefusesBeforeCalling(t *testing.T) {
	with := func(change func(*router.Outgoing)) router.Outgoing {
		m := ackSMS()
		change(&m)
		return m
	}
	tests := []struct {
		name string
		m    router.Outgoing
	}{
		{"hong kong number", with(func(m *router.Outgoing) { m.To = "+85291234567" })},
		{"landline", with(func(m *router.Outgoing) { m.To = "+861062345678" })},
		{"national form", with(func(m *router.Outgoing) { m.To = "13812345678" })},
		{"e-mail", with(func(m *router.Outgoing) { m.Medium, m.To = router.MediumEmail, "li.na@example.com" })},
		{"kind without a template", with(func(m *router.Outgoing) { m.Kind = router.MessageSurvey })},
		{"template value missing", with(func(m *router.Outgoing) { m.Kind = router.MessageResult })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, srv := newTestAliyun(t, http.StatusOK, aliyunOK)
			err := a.Send(context.Background(), tt.m)
			if !errors.Is(err, ErrPermanent) {
				t.Fatalf("Send = %v, want permanent", err)
			}
			if strings.Contains(err.Error(), tt.m.To) {
				t.Fatalf("the error shows the recipient: %v", err)
			}
			if len(srv.received()) != 0 {
				t.Fatal("the API was called")
			}
		})
	}
}
