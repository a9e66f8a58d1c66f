package main

// This file is `tousu privacy`: a customer's personal-information rights
// (查阅、复制 and 删除) through the admin API of a running deployment.

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tousu/tousu/services/httpapi"
	"github.com/tousu/tousu/services/privacy"
)

// privacyFlags registers the selectors of a customer: -phone, -email,
// -id-number and -reference, of which a command takes exactly one.
func privacyFlags(fl *flag.FlagSet, req *httpapi.EraseRequest) {
	fl.StringVar(&req.Phone, "phone", "", "the customer's phone `NUMBER`, in any usual form")
	fl.StringVar(&req.Email, "email", "", "the customer's e-mail `ADDRESS`")
	fl.StringVar(&req.IDNumber, "id-number", "", "an ID card `NUMBER` in the customer's complaints")
	fl.StringVar(&req.Reference, "reference", "", "the `REFERENCE` (受理编号) of one of the customer's cases")
}

// needSelector refuses a request that names no customer, or several ways.
func needSelector(req httpapi.EraseRequest) error {
	if req.Selector().Kind == "" {
		return fmt.Errorf("%w: 请用 -phone、-email、-id-number 或 -reference 之一指定客户（只能一个）", errUsage)
	}
	return nil
}

// privacyExport prints everything held about a customer as JSON.
func privacyExport(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	var a adminClient
	a.flags(fl)
	var req httpapi.EraseRequest
	privacyFlags(fl, &req)
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			if err := needSelector(req); err != nil {
				return err
			}
			sel := req.Selector()
			var ex privacy.Export
			if err := a.call(x, http.MethodGet, httpapi.PathAdminCustomers+"?"+url.Values{sel.Kind: {sel.Value}}.Encode(), nil, &ex); err != nil {
				return err
			}
			enc := json.NewEncoder(x.stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(ex)
		})
	}
}

// privacyErase erases every case of a customer.
func privacyErase(c *command, fl *flag.FlagSet) func([]string, cmdIO) int {
	var a adminClient
	a.flags(fl)
	var req httpapi.EraseRequest
	privacyFlags(fl, &req)
	fl.StringVar(&req.Reason, "reason", "", "why, for the audit and the cases' history: the request's date and how it came (required)")
	return func(_ []string, x cmdIO) int {
		return usersRun(c, x, func() error {
			if err := needSelector(req); err != nil {
				return err
			}
			if req.Reason == "" {
				return fmt.Errorf("%w: 缺少 -reason（删除原因，如“客户12月6日来电申请删除”）", errUsage)
			}
			var out privacy.Erased
			if err := a.call(x, http.MethodPost, httpapi.PathAdminErase, req, &out); err != nil {
				return err
			}
			fmt.Fprintf(x.stdout, "已提交删除：%d 个工单的个人信息将在数秒内删除，已删除 %d 个不再被其他工单引用的附件\n", len(out.Cases), out.Files)
			for _, id := range out.Cases {
				fmt.Fprintln(x.stdout, id)
			}
			return nil
		})
	}
}
