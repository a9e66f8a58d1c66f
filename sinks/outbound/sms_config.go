package outbound

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tousu/tousu/ingest/webhook"
	"github.com/tousu/tousu/internal/httppost"
	"github.com/tousu/tousu/internal/keypath"
	"github.com/tousu/tousu/internal/secret"
	"github.com/tousu/tousu/router"
)

// The SMS providers an SMSConfig may name.
const (
	ProviderAliyun = "aliyun"
	ProviderHTTP   = "http"
)

// Defaults of the SMS section.
const (
	// DefaultSMSTimeout bounds one call to the provider.
	DefaultSMSTimeout = 10 * time.Second
	// DefaultAliyunEndpoint is Aliyun's SMS API endpoint.
	DefaultAliyunEndpoint = "https://dysmsapi.aliyuncs.com/"
	// DefaultAliyunRegion is the region the SMS API is called in.
	DefaultAliyunRegion = "cn-hangzhou"
)

// MessageKinds lists the kinds an SMS template may be configured for.
var MessageKinds = []router.MessageKind{router.MessageAck, router.MessageJoined, router.MessageReply, router.MessageResult, router.MessageSurvey}

var (
	templateCode = regexp.MustCompile(`^SMS_[0-9]{3,20}$`)
	templateVar  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// SMSConfig is the `sms` section: the provider SMS messages to customers
// are sent through. The zero value sends no SMS.
type SMSConfig struct {
	// Provider is "aliyun" (Aliyun SMS, 阿里云短信服务), "http" (an
	// organisation's own relay, signed JSON) or empty for none.
	Provider string `yaml:"provider"`
	// Aliyun configures the aliyun provider.
	Aliyun AliyunConfig `yaml:"aliyun"`
	// HTTP configures the http provider.
	HTTP SMSHTTPConfig `yaml:"http"`
}

// AliyunConfig is Aliyun SMS: the SendSms API with pre-approved templates.
type AliyunConfig struct {
	// Endpoint is the API's URL; default DefaultAliyunEndpoint.
	Endpoint string `yaml:"endpoint"`
	// RegionID is the RegionId parameter; default cn-hangzhou.
	RegionID string `yaml:"region_id"`
	// AccessKeyID and AccessKeySecret are the RAM user's AccessKey pair
	// (with AliyunDysmsFullAccess or SendSms permission): inline, a
	// file or an environment variable. Never logged.
	AccessKeyID     secret.Secret `yaml:"access_key_id"`
	AccessKeySecret secret.Secret `yaml:"access_key_secret"`
	// SignName is the approved signature (签名), shown as 【…】.
	SignName string `yaml:"sign_name"`
	// Templates is the approved template per message kind (ack,
	// joined, reply, result, survey). A message of a kind without one
	// fails permanently.
	Templates map[router.MessageKind]AliyunTemplate `yaml:"templates"`
	// Timeout bounds one call; default DefaultSMSTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// AliyunTemplate is one approved template.
type AliyunTemplate struct {
	// Code is the template's code, SMS_ and digits.
	Code string `yaml:"code"`
	// Params maps each variable of the template to the message's value
	// of that name: a key of router.Outgoing.Params, or "text" and
	// "reference" for the message's text and reference when Params has
	// no such key. Empty sends Outgoing.Params as they are.
	Params map[string]string `yaml:"params"`
}

// SMSHTTPConfig is an organisation's own relay to its SMS gateway.
type SMSHTTPConfig struct {
	// URL is the http or https address messages are POSTed to.
	URL string `yaml:"url"`
	// Secret is the HMAC key that signs each request (at least
	// webhook.MinSecretBytes): inline, a file or an environment
	// variable. Never logged.
	Secret secret.Secret `yaml:"secret"`
	// Timeout bounds one call; default DefaultSMSTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// Provision fills the defaults of the configured provider. It reads
// nothing.
func (c *SMSConfig) Provision() {
	switch c.Provider {
	case ProviderAliyun:
		if c.Aliyun.Endpoint == "" {
			c.Aliyun.Endpoint = DefaultAliyunEndpoint
		}
		if c.Aliyun.RegionID == "" {
			c.Aliyun.RegionID = DefaultAliyunRegion
		}
		if c.Aliyun.Timeout == 0 {
			c.Aliyun.Timeout = DefaultSMSTimeout
		}
	case ProviderHTTP:
		if c.HTTP.Timeout == 0 {
			c.HTTP.Timeout = DefaultSMSTimeout
		}
	}
}

// ResolveSecrets reads the configured provider's secrets from their files
// (relative to dir) or environment variables, reporting each one that
// cannot be read by its key.
func (c *SMSConfig) ResolveSecrets(dir string, lookupEnv func(string) (string, bool)) error {
	switch c.Provider {
	case ProviderAliyun:
		return errors.Join(
			c.Aliyun.AccessKeyID.ResolveAt("aliyun", "access_key_id", dir, lookupEnv),
			c.Aliyun.AccessKeySecret.ResolveAt("aliyun", "access_key_secret", dir, lookupEnv))
	case ProviderHTTP:
		return c.HTTP.Secret.ResolveAt("http", "secret", dir, lookupEnv)
	}
	return nil
}

// Validate checks the section without reading anything: a known
// provider and that provider's fields. Every error names its key
// (aliyun.templates.ack.code: …), never a secret or a URL's path.
func (c SMSConfig) Validate() error {
	switch c.Provider {
	case "":
		return nil
	case ProviderAliyun:
		return keypath.Under("aliyun", c.Aliyun.validate())
	case ProviderHTTP:
		return keypath.Under("http", c.HTTP.validate())
	}
	return fmt.Errorf("provider: unknown provider %q (known: %s, %s)", c.Provider, ProviderAliyun, ProviderHTTP)
}

func (c AliyunConfig) validate() error {
	var errs []error
	if err := checkURL(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint: %w", err))
	}
	if c.RegionID == "" {
		errs = append(errs, errors.New("region_id: required"))
	}
	errs = append(errs, requiredSecret("access_key_id", c.AccessKeyID, 1), requiredSecret("access_key_secret", c.AccessKeySecret, 1))
	if strings.TrimSpace(c.SignName) == "" {
		errs = append(errs, errors.New("sign_name: required (the approved signature, e.g. 某某客服)"))
	}
	if len(c.Templates) == 0 {
		errs = append(errs, errors.New("templates: at least one message kind needs a template"))
	}
	kinds := make([]string, 0, len(c.Templates))
	for k := range c.Templates {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t := c.Templates[router.MessageKind(k)]
		at := "templates." + k
		if !slices.Contains(MessageKinds, router.MessageKind(k)) {
			errs = append(errs, fmt.Errorf("%s: unknown message kind %q (known: ack, joined, reply, result, survey)", at, k))
			continue
		}
		if !templateCode.MatchString(t.Code) {
			errs = append(errs, fmt.Errorf("%s.code: %q is not a template code (SMS_ and digits)", at, t.Code))
		}
		for v, from := range t.Params {
			if !templateVar.MatchString(v) || from == "" {
				errs = append(errs, fmt.Errorf("%s.params: %q: %q is not a template variable and a value's name", at, v, from))
			}
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive (0 means %s)", DefaultSMSTimeout))
	}
	return errors.Join(errs...)
}

func (c SMSHTTPConfig) validate() error {
	var errs []error
	if err := checkURL(c.URL); err != nil {
		errs = append(errs, fmt.Errorf("url: %w", err))
	}
	errs = append(errs, requiredSecret("secret", c.Secret, webhook.MinSecretBytes))
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive (0 means %s)", DefaultSMSTimeout))
	}
	return errors.Join(errs...)
}

// requiredSecret checks that s names one source and, where its value is
// at hand, that it is at least min bytes long.
func requiredSecret(key string, s secret.Secret, min int) error {
	switch {
	case !s.IsSet():
		return fmt.Errorf("%s: required (value, file or env)", key)
	case s.Check() != nil:
		return fmt.Errorf("%s: %w", key, s.Check())
	case s.Known() && len(strings.TrimSpace(s.Reveal())) < min:
		return fmt.Errorf("%s: must be at least %d bytes", s.Key(key), min)
	}
	return nil
}

// checkURL is httppost.CheckURL for a required URL.
func checkURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	return httppost.CheckURL(s)
}
