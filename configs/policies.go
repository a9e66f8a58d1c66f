package configs

import "embed"

// Policies holds the policy packs shipped in policies/ (and their golden
// tests), so a binary can run a pack without the source tree: the router
// loads "builtin:telecom" from policies/telecom.yaml here.
//
//go:embed policies/*.yaml policies/examples/*.csv
var Policies embed.FS
