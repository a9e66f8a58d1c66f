package router

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
)

// hotlineRow is a hotline complaint as the CSV drop and the normalizer
// make it from a row with the work-order number and 业务类型 columns.
func hotlineRow(workOrder, businessType string, at time.Time) normalize.Complaint {
	c := normalize.Complaint{V: normalize.SchemaVersion, ID: "hotline:12345:" + workOrder, Reference: ingest.ReferenceFor("hotline:12345:" + workOrder),
		Channel: ingest.ChannelHotline, Source: "12345", SourceID: workOrder, ReceivedAt: at,
		Customer:    normalize.Customer{Name: "王女士", Phone: "+8613912340001", Key: "phone:+8613912340001"},
		Description: "家里宽带从周一开始断断续续，报修两次没人上门",
		Extra:       map[string]string{"csv_file": "20260302.csv", "csv_row": "7"}}
	if businessType != "" {
		c.Extra[ingest.ExtraBusinessType] = businessType
	}
	return c
}

func TestWorkOrdersAndBusinessType(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	web := relatedComplaint("api:1", t0)
	web.SourceID = "PARTNER-77" // not a hotline work order
	web.Extra = map[string]string{ingest.ExtraBusinessType: "移动业务"}
	noOrder := hotlineRow("", "", t0)
	long := hotlineRow(strings.Repeat("9", MaxSourceLabelBytes+1), "宽带故障", t0)

	tests := []struct {
		name         string
		c            normalize.Complaint
		wantOrders   []string
		wantBusiness string
	}{
		{"hotline row", hotlineRow("GD20260302000117", "宽带故障", t0), []string{"GD20260302000117"}, "宽带故障"},
		{"hotline row without columns", noOrder, nil, ""},
		{"a cell too long for a work-order number", long, nil, "宽带故障"},
		{"a cell too long for a business type", hotlineRow("GD1", strings.Repeat("宽", MaxSourceLabelBytes/3+1), t0), []string{"GD1"}, ""},
		{"another channel", web, nil, "移动业务"},
	}
	e := miniEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.Open(tt.c, t0)
			if !slices.Equal(c.WorkOrders, tt.wantOrders) || c.BusinessType != tt.wantBusiness {
				t.Errorf("Open: work orders %q, business type %q; want %q, %q", c.WorkOrders, c.BusinessType, tt.wantOrders, tt.wantBusiness)
			}
		})
	}

	// Later hotline calls about the same matter add their numbers, once.
	c := e.Open(hotlineRow("GD20260302000117", "宽带故障", t0), t0)
	c, _ = AttachRepeat(c, hotlineRow("GD20260303000042", "宽带报修", t0.Add(24*time.Hour)), "又来电催")
	c, _ = AttachDuplicate(c, hotlineRow("GD20260303000042", "宽带报修", t0.Add(25*time.Hour)), "same row again")
	c, _ = AttachRepeat(c, web, "by web")
	if want := []string{"GD20260302000117", "GD20260303000042"}; !slices.Equal(c.WorkOrders, want) || c.BusinessType != "宽带故障" {
		t.Errorf("after later calls: work orders %q, business type %q; want %q, 宽带故障", c.WorkOrders, c.BusinessType, want)
	}
}
