package main

// This file is `tousu dlq`: the dead letters of complaints.dlq through the
// dead-letter API of a running deployment, with an ops or admin token.

import (
	"flag"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tousu/tousu/services/deadletters"
	"github.com/tousu/tousu/services/httpapi"
)

// dlqForbidden is the refusal of a token that may not tend dead letters.
const dlqForbidden = "该令牌无权处理死信：需要运维（ops）或管理员令牌（403）"

// dlqClient is an adminClient for the dead-letter API.
func dlqClient(fl *flag.FlagSet) *adminClient {
	a := &adminClient{forbidden: dlqForbidden}
	a.flags(fl)
	return a
}

// dlqList prints the counts and the newest dead letters as a table.
func dlqList(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	a := dlqClient(fl)
	var f deadletters.Filter
	var limit int
	fl.StringVar(&f.Source, "source", "", "only the dead letters of this `SOURCE` (a topic of origin, or an intake source such as imap:support)")
	fl.StringVar(&f.Reason, "reason", "", "only the dead letters of this `REASON` (a reason class as listed, or part of the reason)")
	fl.IntVar(&limit, "limit", httpapi.DefaultDeadLetterLimit, "list at most `N` entries (1-500)")
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if f.Source != "" {
				q.Set("source", f.Source)
			}
			if f.Reason != "" {
				q.Set("reason", f.Reason)
			}
			var list httpapi.DeadLetterList
			if err := a.call(x, http.MethodGet, httpapi.PathDeadLetters+"?"+q.Encode(), nil, &list); err != nil {
				return err
			}
			fmt.Fprintf(x.stdout, "共 %d 条死信，本副本保留 %d 条，符合条件 %d 条\n", list.Total, list.Kept, list.Matching)
			w := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
			printCounts(w, "来源", list.BySource)
			printCounts(w, "原因", list.ByReason)
			fmt.Fprintln(w)
			fmt.Fprintln(w, "编号\t来源\t原因\t时间\t大小\t状态")
			for _, e := range list.Entries {
				state := "未重放"
				if e.Replay != nil {
					state = "已重放（" + e.Replay.By + "）"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Source, oneLine(e.Reason, 60), e.At.In(beijing).Format("2006-01-02 15:04"), e.Size, state)
			}
			return w.Flush()
		})
	}
}

// printCounts writes the counts of m, most first, under a heading.
func printCounts(w *tabwriter.Writer, heading string, m map[string]int) {
	fmt.Fprintf(w, "\n按%s\t条数\n", heading)
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%d\n", k, m[k])
	}
}

// oneLine is s on one line, at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// dlqShow prints one dead letter: in full with an ops token (the view is
// audited), masked with an admin token.
func dlqShow(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	a := dlqClient(fl)
	var id string
	fl.StringVar(&id, "id", "", "`ID` of the dead letter, as tousu dlq list shows it")
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			if id == "" {
				return fmt.Errorf("%w: 缺少 -id（死信编号，见 tousu dlq list）", errUsage)
			}
			var v httpapi.DeadLetterView
			if err := a.call(x, http.MethodGet, httpapi.PathDeadLetters+"/"+url.PathEscape(id), nil, &v); err != nil {
				return err
			}
			w := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "编号\t%s\n来源\t%s\n", v.ID, v.Source)
			if v.Topic != "" {
				fmt.Fprintf(w, "原始位置\t%s 分区 %d 偏移 %d\n", v.Topic, v.Partition, v.Offset)
			}
			fmt.Fprintf(w, "处理组\t%s\n原因\t%s\n时间\t%s\n大小\t%d 字节\n键\t%s\n", v.Group, oneLine(v.Reason, 500), v.At.In(beijing).Format("2006-01-02 15:04:05"), v.Size, v.Key)
			switch {
			case v.Replay != nil:
				fmt.Fprintf(w, "重放\t已重放（%s，%s）\n", v.Replay.By, v.Replay.At.In(beijing).Format("2006-01-02 15:04"))
			case v.Replayable != "":
				fmt.Fprintf(w, "重放\t%s\n", v.Replayable)
			default:
				fmt.Fprintf(w, "重放\t尚未重放（tousu dlq replay -id %s）\n", v.ID)
			}
			for _, k := range slices.Sorted(maps.Keys(v.Headers)) {
				fmt.Fprintf(w, "消息头 %s\t%s\n", k, v.Headers[k])
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if v.Full {
				fmt.Fprintln(x.stdout, "\n原始内容（完整，本次查看已记录）：")
			} else {
				fmt.Fprintln(x.stdout, "\n原始内容（已隐去电话、邮箱、证件号）：")
			}
			fmt.Fprintln(x.stdout, v.Payload)
			return nil
		})
	}
}

// dlqReplay replays dead letters by id or by filter and prints what
// became of each.
func dlqReplay(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	a := dlqClient(fl)
	var ids string
	var req httpapi.ReplayRequest
	fl.StringVar(&ids, "id", "", "comma-separated `IDS` of the dead letters to replay")
	fl.StringVar(&req.Source, "source", "", "replay every dead letter of this `SOURCE` not replayed yet")
	fl.StringVar(&req.Reason, "reason", "", "replay every dead letter of this `REASON` not replayed yet")
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			req.IDs = splitDepartments(ids)
			switch {
			case len(req.IDs) == 0 && req.Filter == (deadletters.Filter{}):
				return fmt.Errorf("%w: 请用 -id 指定死信编号，或用 -source、-reason 指定筛选条件", errUsage)
			case len(req.IDs) > 0 && req.Filter != (deadletters.Filter{}):
				return fmt.Errorf("%w: -id 与 -source、-reason 只能选一种", errUsage)
			}
			var out struct {
				Replayed  int                   `json:"replayed"`
				Remaining *int                  `json:"remaining"`
				Results   []deadletters.Outcome `json:"results"`
			}
			if err := a.call(x, http.MethodPost, httpapi.PathDeadLetters+"/replay", req, &out); err != nil {
				return err
			}
			w := tabwriter.NewWriter(x.stdout, 0, 4, 2, ' ', 0)
			for _, o := range out.Results {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", o.ID, o.Topic, deadletters.StatusLabels[o.Status], o.Detail)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(x.stdout, "已重放 %d 条，共 %d 条\n", out.Replayed, len(out.Results))
			if out.Remaining != nil && *out.Remaining > 0 {
				fmt.Fprintf(x.stdout, "还有 %d 条符合条件，再次运行以继续\n", *out.Remaining)
			}
			return nil
		})
	}
}
