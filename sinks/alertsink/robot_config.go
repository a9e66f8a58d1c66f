package alertsink

import (
	"errors"
	"fmt"
	"time"

	"github.com/tousu/tousu/internal/httppost"
	"github.com/tousu/tousu/internal/secret"
)

// The robot kinds.
const (
	// RobotDingTalk is a DingTalk custom robot (钉钉自定义机器人).
	RobotDingTalk = "dingtalk"
	// RobotWeCom is a WeCom group robot (企业微信群机器人).
	RobotWeCom = "wecom"
)

// RobotConfig is one group-chat robot. Its URL carries the robot's token
// (DingTalk's access_token, WeCom's key), so it is a secret like the
// signing secret: logs and errors name the robot and the URL's host only.
type RobotConfig struct {
	// Name identifies the robot in metrics, logs and errors, like a
	// webhook's name (unique among webhooks, robots and e-mail targets).
	Name string `yaml:"name"`
	// Kind is dingtalk or wecom.
	Kind string `yaml:"kind"`
	// URL is the robot's webhook address with its token
	// (https://oapi.dingtalk.com/robot/send?access_token=…,
	// https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…): inline,
	// a file or an environment variable.
	URL secret.Secret `yaml:"url"`
	// Secret is a DingTalk robot's signing secret (加签, SEC…), for a
	// robot whose security setting is signing; a robot secured by
	// keywords or IP addresses has none. WeCom robots have none.
	Secret secret.Secret `yaml:"secret"`
	// Kinds, MinLevel and Notify filter the notices as a webhook's do.
	Kinds    []string `yaml:"kinds"`
	MinLevel int      `yaml:"min_level"`
	Notify   []string `yaml:"notify"`
	// Timeout bounds each request; default DefaultTimeout, filled by
	// Provision.
	Timeout time.Duration `yaml:"timeout"`
	// OmitExcerpt leaves the complaint excerpt out of the message.
	OmitExcerpt bool `yaml:"omit_excerpt"`
}

// Filter returns the robot's filter.
func (r RobotConfig) Filter() Filter {
	return Filter{Kinds: r.Kinds, MinLevel: r.MinLevel, Notify: r.Notify}
}

func (r *RobotConfig) resolveSecrets(at, dir string, lookupEnv func(string) (string, bool)) error {
	return errors.Join(r.URL.ResolveAt(at, "url", dir, lookupEnv), r.Secret.ResolveAt(at, "secret", dir, lookupEnv))
}

// validate checks what is the robot's own: its kind, its URL (http or
// https with a host, where at hand) and its secret. Errors never contain
// the URL or a secret.
func (r RobotConfig) validate() error {
	var errs []error
	switch r.Kind {
	case RobotDingTalk, RobotWeCom:
	default:
		errs = append(errs, fmt.Errorf("kind: %q: known kinds are %s and %s", r.Kind, RobotDingTalk, RobotWeCom))
	}
	switch {
	case !r.URL.IsSet():
		errs = append(errs, errors.New("url: required (value, file or env)"))
	case r.URL.Check() != nil:
		errs = append(errs, fmt.Errorf("url: %w", r.URL.Check()))
	case r.URL.Known():
		if err := httppost.CheckURL(r.URL.Reveal()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.URL.Key("url"), err))
		}
	}
	switch {
	case r.Secret.IsSet() && r.Kind == RobotWeCom:
		errs = append(errs, errors.New("secret: a WeCom robot has no signing secret"))
	case r.Secret.Check() != nil:
		errs = append(errs, fmt.Errorf("secret: %w", r.Secret.Check()))
	}
	return errors.Join(errs...)
}
