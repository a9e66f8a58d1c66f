// Package browsertest starts the headless Chromium of the browser tests:
// the executable TOUSU_TEST_BROWSER names (servertest.Browser), in a
// profile of its own, in Chinese, without the background traffic
// (updates, sync, QUIC) that would make a test's requests unpredictable.
package browsertest

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tousu/tousu/internal/servertest"
)

// Start starts headless Chromium with a window and viewport of width ×
// height, and returns a tab's context that ends after limit or with the
// test. Without TOUSU_TEST_BROWSER the test is skipped, or fails with
// TOUSU_REQUIRE_SERVERS=1.
func Start(tb testing.TB, width, height int64, limit time.Duration, viewport ...chromedp.EmulateViewportOption) context.Context {
	tb.Helper()
	path := servertest.Require(tb, servertest.Browser)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Env("LANGUAGE=zh_CN", "LANG=zh_CN.UTF-8"),
		chromedp.WindowSize(int(width), int(height)),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	tb.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, viewport...)); err != nil {
		tb.Fatalf("start %s: %v", path, err)
	}
	return ctx
}
