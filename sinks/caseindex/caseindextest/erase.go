package caseindextest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tousu/tousu/ingest"
	"github.com/tousu/tousu/normalize"
	"github.com/tousu/tousu/router"
	"github.com/tousu/tousu/sinks/caseindex"
)

// testErasedCaseNotFound: once a case's erased revision (router.Erase)
// is written, nothing personal finds it any more (the phone, the name,
// the e-mail, the attachment's hash, a number or an address in its
// text), while statistics still count it.
func testErasedCaseNotFound(t *testing.T, idx caseindex.Index) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	c := NewCase(t, "erase", func(c *router.Case) {
		c.Customer = normalize.Customer{Name: "赵丽娟", Phone: "+8613912340077", Email: "zhaolijuan@example.cn", Key: "phone:+8613912340077"}
		c.Subject = "赵丽娟：宽带报修"
		c.Description = "宽带断网三天，住南京市鼓楼区中山路18号5栋1203室，回电 139 1234 0077"
		c.Attachments = []ingest.Attachment{{Name: "赵丽娟身份证.jpg", Type: "image/jpeg", Size: 4096, SHA256: sum}}
		c.Category, c.Status = "network", router.StatusClosed
	})
	upsert(t, idx, c)
	queries := map[string]caseindex.Query{
		"phone":      {Filters: by("phone", "139 1234 0077")},
		"name":       {Filters: by("customer", "赵丽娟")},
		"email":      {Filters: by("email", "zhaolijuan@example.cn")},
		"attachment": {Filters: by("attachment", sum)},
		"spaced":     {Text: `"1234 0077"`},
		"name text":  {Text: "赵丽娟"},
		"address":    {Text: `"中山路18号"`},
	}
	for name, q := range queries {
		if res := find(t, idx, q); res.Total != 1 {
			t.Fatalf("before the erasure, %s found %v, want the case", name, ids(res))
		}
	}
	erased := router.Erase(c, router.Erasure{At: Base.Add(time.Hour), Reason: router.ErasureRequest, By: "admin"})
	erased.Revision++
	upsert(t, idx, erased)
	for name, q := range queries {
		if res := find(t, idx, q); res.Total != 0 {
			t.Errorf("after the erasure, %s still finds %v", name, ids(res))
		}
	}
	got, err := idx.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Erased == nil || strings.Contains(got.Description, "中山路") || got.Customer.Phone != "" {
		t.Errorf("Get returns %+v, want the erased case", got)
	}
	if res := find(t, idx, caseindex.Query{Filters: by("category", "network", "status", "closed")}); res.Total != 1 {
		t.Errorf("statistics lost the erased case: %v", ids(res))
	}
}
