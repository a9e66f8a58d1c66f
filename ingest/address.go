package ingest

import "strings"

// IsOurAddress reports whether the e-mail address addr is one of ours:
// equal to an entry of ours, or in the domain of an "@domain" entry
// (the whole domain, not its subdomains). Case and surrounding white
// space are ignored. The e-mail channel quarantines mail from our
// addresses as automatic, and the router never writes to them, so that
// tousu never answers itself.
func IsOurAddress(addr string, ours []string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return false
	}
	for _, o := range ours {
		o = strings.ToLower(strings.TrimSpace(o))
		if strings.HasPrefix(o, "@") {
			if strings.HasSuffix(addr, o) {
				return true
			}
		} else if addr == o {
			return true
		}
	}
	return false
}
