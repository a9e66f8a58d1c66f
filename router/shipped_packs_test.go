package router

import (
	"testing"
)

// TestShippedPackEventClocks starts the event clocks of the shipped packs,
// which the golden files can only list as pending: the manufacturing
// pack's corrective-action chain (公示 within an hour of approval, three
// verifications — the first within a week of implementation, each later
// one within 30 days of the previous — and a 公示 within an hour of each),
// the insurance pack's notice and review clocks and the follow-up clocks,
// on the official calendar.
func TestShippedPackEventClocks(t *testing.T) {
	type step struct {
		event, at string
		// due maps the clocks the event must start to their due times;
		// pending lists the clocks still waiting afterwards.
		due     map[string]string
		pending []string
	}
	tests := []struct {
		pack, text string
		extra      map[string]string
		received   string
		steps      []step
	}{
		{
			pack:     "manufacturing",
			text:     "你们发的这批型材表面有很多划伤，客户拒收",
			received: "2026-01-20 09:00",
			steps: []step{
				{"measures_approved", "2026-02-13 16:30", map[string]string{"measures_notice": "2026-02-13 17:30"},
					[]string{"verify_1", "verify_2", "verify_3", "verify_notice_1", "verify_notice_2", "verify_notice_3"}},
				// Implemented on the eve of Spring Festival 2026: a week in calendar days.
				{"measures_implemented", "2026-02-14 15:00", map[string]string{"verify_1": "2026-02-22 00:00"},
					[]string{"verify_2", "verify_3", "verify_notice_1", "verify_notice_2", "verify_notice_3"}},
				{"verified_1", "2026-02-21 10:00", map[string]string{"verify_2": "2026-03-24 00:00", "verify_notice_1": "2026-02-21 11:00"},
					[]string{"verify_3", "verify_notice_2", "verify_notice_3"}},
				{"verified_2", "2026-03-20 09:00", map[string]string{"verify_3": "2026-04-20 00:00", "verify_notice_2": "2026-03-20 10:00"},
					[]string{"verify_notice_3"}},
				{"verified_3", "2026-04-17 14:00", map[string]string{"verify_notice_3": "2026-04-17 15:00"}, nil},
			},
		},
		{
			pack:     "insurance",
			text:     "重疾险理赔材料交齐一个月了还不赔，一直说在审核",
			received: "2026-09-01 10:00",
			steps: []step{
				// Decided the day before National Day 2026: 5 working days with Sat 10 Oct worked.
				{"decided", "2026-09-29 10:00", map[string]string{"notify": "2026-10-13 00:00"}, []string{"review"}},
				{"review_requested", "2026-10-20 09:00", map[string]string{"review": "2026-11-20 00:00"}, nil},
			},
		},
		{
			pack:     "construction",
			text:     "业主反映地下车库顶板多处渗水，请核实处理。",
			extra:    map[string]string{"transferred_from": "区住建局"},
			received: "2026-01-20 09:00",
			steps: []step{
				// Resolved before Spring Festival 2026 (Sat 14 Feb worked, 15-23 Feb off).
				{"resolved", "2026-02-13 16:00", map[string]string{"follow_up": "2026-02-26 00:00", "feedback_superior": "2026-02-28 00:00"}, nil},
			},
		},
		{
			pack:     "hotel",
			text:     "房间空调不制冷，热得睡不着",
			received: "2026-02-16 22:00",
			steps: []step{
				{"resolved", "2026-02-16 23:00", map[string]string{"follow_up": "2026-02-18 00:00"}, nil},
			},
		},
		{
			pack:     "automotive",
			text:     "保养的时候多收了我一个项目的钱，根本没做",
			received: "2025-12-29 10:00",
			steps: []step{
				{"resolved", "2025-12-31 10:00", map[string]string{"follow_up": "2026-01-04 00:00"}, nil},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.pack, func(t *testing.T) {
			e, err := LoadEngine("../configs/policies/" + tt.pack + ".yaml")
			if err != nil {
				t.Fatal(err)
			}
			received := at(t, tt.received)
			complaint := reachable(tt.text, received)
			complaint.Extra = tt.extra
			c := e.Open(complaint, received)
			if !c.Validity.Valid || c.ContactType != "投诉" {
				t.Fatalf("want a valid complaint, got %s %+v", c.ContactType, c.Validity)
			}
			for _, s := range tt.steps {
				before := len(c.Deadlines)
				c, err = e.Start(c, s.event, at(t, s.at))
				if err != nil {
					t.Fatalf("%s: %v", s.event, err)
				}
				if got := len(c.Deadlines) - before; got != len(s.due) {
					t.Errorf("%s started %d clocks, want %d: %+v", s.event, got, len(s.due), c.Deadlines[before:])
				}
				for _, d := range c.Deadlines[before:] {
					want, ok := s.due[d.Name]
					switch {
					case !ok:
						t.Errorf("%s started %s, not expected", s.event, d.Name)
					case d.Error != "":
						t.Errorf("%s: clock %s: %s", s.event, d.Name, d.Error)
					case !d.Due.Equal(at(t, want)):
						t.Errorf("%s: clock %s due %s, want %s", s.event, d.Name, d.Due.Format("2006-01-02 15:04"), want)
					}
				}
				var pending []string
				for _, d := range c.PendingClocks {
					pending = append(pending, d.Name)
				}
				if !sameSet(pending, s.pending) {
					t.Errorf("after %s pending %v, want %v", s.event, pending, s.pending)
				}
			}
		})
	}
}
