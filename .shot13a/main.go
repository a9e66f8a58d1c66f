// Screenshots of a case page for helper 13a: sign in as admin, open the
// case given, shoot it; with "correct", regrade and revalidate it through
// the forms and shoot after each.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

func main() {
	base, pw, out, ref, prefix := os.Args[1], strings.TrimSpace(os.Args[2]), os.Args[3], os.Args[4], os.Args[5]
	correct := len(os.Args) > 6 && os.Args[6] == "correct"
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	must := func(step string, err error) {
		if err != nil {
			fmt.Println(step+":", err)
			os.Exit(1)
		}
	}
	shot := func(name string) {
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		must("shot "+name, err)
		must("write", os.WriteFile(out+"/"+prefix+name+".png", buf, 0o644))
		fmt.Println("shot", prefix+name)
	}
	must("signin", chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(`input[name=name]`),
		chromedp.SendKeys(`input[name=name]`, "admin"), chromedp.SendKeys(`input[name=password]`, pw), chromedp.Submit(`input[name=password]`), chromedp.Sleep(time.Second)))
	names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('input[type=password]')).map(i=>i.name)`))
	must("names", err)
	for i, n := range names {
		v := "新密码Tousu2026!"
		if i == 0 {
			v = pw
		}
		must("type", chromedp.Do(ctx, chromedp.SendKeys(`input[name=`+n+`]`, v)))
	}
	if len(names) > 0 {
		must("change", chromedp.Do(ctx, chromedp.Submit(`input[name=`+names[len(names)-1]+`]`), chromedp.Sleep(time.Second)))
	}
	must("case", chromedp.Do(ctx, chromedp.Navigate(base+"/console/cases/"+ref), chromedp.Sleep(time.Second)))
	shot("case")
	if !correct {
		return
	}
	must("regrade", chromedp.Do(ctx, chromedp.SetValue(`#g-grade`, "重大"), chromedp.SendKeys(`#g-note`, "客户说已联系电视台记者，3月5日要来拍"),
		chromedp.Submit(`#g-note`), chromedp.Sleep(6*time.Second)))
	shot("case-regraded")
	must("revalidate", chromedp.Do(ctx, chromedp.Click(`input[name=valid][value=no]`), chromedp.SendKeys(`#v-note`, "客户打错电话，是移动的号码，非我司用户"),
		chromedp.Submit(`#v-note`), chromedp.Sleep(6*time.Second)))
	shot("case-revalidated")
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#g-note').removeAttribute('required'), true`))
	must("unrequire", err)
	must("refused", chromedp.Do(ctx, chromedp.SetValue(`#g-grade`, "一般"), chromedp.Submit(`#g-note`), chromedp.Sleep(2*time.Second)))
	shot("case-refused")
}
