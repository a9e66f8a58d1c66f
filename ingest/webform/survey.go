package webform

import (
	"context"
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"
)

// The errors a SurveyBook returns: a link that is forged, expired or names
// no case, and a survey that can no longer be answered (answered already,
// or the case changed since it was sent).
var (
	ErrSurveyUnknown = errors.New("webform: unknown or expired survey")
	ErrSurveyClosed  = errors.New("webform: survey no longer open")
)

// SurveyCase is what the survey page shows a customer about the case a
// follow-up survey (回访满意度调查) asks about: nothing personal, because
// the link may have been forwarded.
type SurveyCase struct {
	Reference string
	// Status is the Chinese label of the case status.
	Status   string
	Category string
	// Open says the survey still takes an answer.
	Open bool
}

// SurveyBook answers follow-up surveys. Both methods are called
// concurrently from request handlers and must honour ctx (the page bounds
// it with Config.PublishTimeout). LookupSurvey returns ErrSurveyUnknown
// (or an error wrapping it) for a token it does not accept. AnswerSurvey
// records the answer and returns nil once it is durably recorded (the
// broker acknowledged it); ErrSurveyClosed when the survey no longer takes
// one. Any other error is shown as a temporary failure.
type SurveyBook interface {
	LookupSurvey(ctx context.Context, token string) (SurveyCase, error)
	AnswerSurvey(ctx context.Context, token string, satisfied bool, comment string) error
}

// surveyView is the survey's case, formatted for the page.
type surveyView struct {
	Token, Reference, Status, Category string
	Open                               bool
	// Satisfied and Comment echo an answer sent back for correction.
	Satisfied, Comment string
}

// MaxSurveyTokenBytes bounds the survey token a request may carry; the
// tokens tousu signs are far shorter.
const MaxSurveyTokenBytes = 512

// Survey page messages.
const (
	msgSurveyUnknown = "该评价链接无效或已过期。如需反馈，请致电客服热线或重新提交投诉。"
	msgSurveyClosed  = "感谢您的关注：该工单已有回访结果，无需再次评价。"
	msgSurveyChoose  = "请选择您对处理结果是否满意。"
	msgSurveyThanks  = "感谢您的评价！"
)

// MountSurvey registers the follow-up survey page on app:
//
//	GET  /survey?t=TOKEN  the case's reference and status, and the question
//	POST /survey          records the answer (satisfied or not, and a comment)
//
// The token comes from the survey message tousu sent the customer and
// stands for the case (see router.SignSurvey). POST /survey is CSRF
// protected and rate limited per IP like the status page.
func (f *Form) MountSurvey(app fiber.Router, book SurveyBook) {
	app.Get("/survey", f.csrf, func(c *fiber.Ctx) error { return f.showSurvey(c, book) })
	app.Post("/survey", rejectEncodedBody, f.statusLimit, f.csrf, func(c *fiber.Ctx) error { return f.answerSurvey(c, book) })
}

func (f *Form) showSurvey(c *fiber.Ctx, book SurveyBook) error {
	token := strings.Clone(c.Query("t"))
	sc, status, err := f.lookupSurvey(c, book, token)
	if err != nil {
		return err
	}
	if sc == nil {
		return nil
	}
	return f.render(c, status, "survey", pageData{Title: "服务评价", Base: mountBase(c), Survey: sc})
}

// lookupSurvey finds the survey of token; when it cannot be shown it
// renders the answer itself and returns a nil view.
func (f *Form) lookupSurvey(c *fiber.Ctx, book SurveyBook, token string) (*surveyView, int, error) {
	if token == "" || len(token) > MaxSurveyTokenBytes {
		return nil, 0, f.message(c, fiber.StatusNotFound, "服务评价", msgSurveyUnknown, "/")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), f.cfg.PublishTimeout)
	defer cancel()
	sc, err := book.LookupSurvey(ctx, token)
	switch {
	case errors.Is(err, ErrSurveyUnknown):
		f.m.surveys.WithLabelValues("unknown").Inc()
		return nil, 0, f.message(c, fiber.StatusNotFound, "服务评价", msgSurveyUnknown, "/")
	case err != nil:
		return nil, 0, f.surveyUnavailable(c, "survey lookup failed", err)
	}
	return &surveyView{Token: token, Reference: sc.Reference, Status: orDash(sc.Status), Category: orDash(sc.Category), Open: sc.Open}, fiber.StatusOK, nil
}

func (f *Form) answerSurvey(c *fiber.Ctx, book SurveyBook) error {
	values := formValues(c)
	sc, _, err := f.lookupSurvey(c, book, values["t"])
	if sc == nil || err != nil {
		return err
	}
	if !sc.Open {
		f.m.surveys.WithLabelValues("closed").Inc()
		return f.message(c, fiber.StatusConflict, "服务评价", msgSurveyClosed, "/")
	}
	comment := values["comment"]
	var satisfied bool
	switch values["satisfied"] {
	case "yes":
		satisfied = true
	case "no":
	default:
		page := pageData{Title: "服务评价", Base: mountBase(c), Survey: sc, Summary: msgSurveyChoose}
		sc.Comment = echo(comment)
		return f.render(c, fiber.StatusUnprocessableEntity, "survey", page)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), f.cfg.PublishTimeout)
	defer cancel()
	switch err := book.AnswerSurvey(ctx, sc.Token, satisfied, comment); {
	case errors.Is(err, ErrSurveyClosed):
		f.m.surveys.WithLabelValues("closed").Inc()
		return f.message(c, fiber.StatusConflict, "服务评价", msgSurveyClosed, "/")
	case errors.Is(err, ErrSurveyUnknown):
		f.m.surveys.WithLabelValues("unknown").Inc()
		return f.message(c, fiber.StatusNotFound, "服务评价", msgSurveyUnknown, "/")
	case err != nil:
		return f.surveyUnavailable(c, "survey answer not recorded", err)
	}
	f.m.surveys.WithLabelValues(map[bool]string{true: "satisfied", false: "unsatisfied"}[satisfied]).Inc()
	f.log.Info("survey answered", zap.String("reference", sc.Reference), zap.Bool("satisfied", satisfied))
	return f.render(c, fiber.StatusOK, "message", pageData{Title: "服务评价", Base: mountBase(c), Message: msgSurveyThanks, Back: mountBase(c) + "/", Thanks: true})
}

func (f *Form) surveyUnavailable(c *fiber.Ctx, msg string, err error) error {
	f.m.surveys.WithLabelValues("unavailable").Inc()
	f.log.Error(msg, zap.Error(err))
	c.Set(fiber.HeaderRetryAfter, "10")
	return f.message(c, fiber.StatusServiceUnavailable, "服务评价", "系统繁忙，请稍后再试。", "/")
}
