package model

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// commonInitialisms are the words Go spells in one case (golint's list,
// trimmed to the ones that show up in names).
var commonInitialisms = map[string]bool{
	"ACL": true, "API": true, "ASCII": true, "CPU": true, "CSS": true, "DNS": true,
	"EOF": true, "GUID": true, "HTML": true, "HTTP": true, "HTTPS": true, "ID": true,
	"IP": true, "JSON": true, "LHS": true, "QPS": true, "RAM": true, "RHS": true,
	"RPC": true, "SLA": true, "SMTP": true, "SQL": true, "SSH": true, "TCP": true,
	"TLS": true, "TTL": true, "UDP": true, "UI": true, "UID": true, "UUID": true,
	"URI": true, "URL": true, "UTF8": true, "VM": true, "XML": true, "XMPP": true,
	"XSRF": true, "XSS": true,
}

// ExportName turns a parameter name into an exported Go field name, with
// common initialisms in upper case: "id" -> "ID", "userId" -> "UserID",
// "htmlURL" -> "HTMLURL", "title" -> "Title".
func ExportName(name string) string {
	var b strings.Builder
	for _, w := range splitWords(name) {
		if up := strings.ToUpper(w); commonInitialisms[up] {
			b.WriteString(up)
			continue
		}
		r, n := utf8.DecodeRuneInString(w)
		b.WriteRune(unicode.ToUpper(r))
		b.WriteString(w[n:])
	}
	return b.String()
}

// splitWords splits a camelCase or snake_case name into words: a new word
// starts at an upper-case letter that follows a lower-case letter or digit,
// and at the last upper-case letter of a run followed by a lower-case one
// ("HTMLFile" -> "HTML", "File").
func splitWords(name string) []string {
	rs := []rune(name)
	var words []string
	start := 0
	for i := 1; i <= len(rs); i++ {
		if i == len(rs) {
			words = append(words, string(rs[start:i]))
			break
		}
		if rs[i] == '_' {
			if i > start {
				words = append(words, string(rs[start:i]))
			}
			start = i + 1
			continue
		}
		prev, cur := rs[i-1], rs[i]
		boundary := unicode.IsUpper(cur) && (unicode.IsLower(prev) || unicode.IsDigit(prev))
		if !boundary && unicode.IsUpper(prev) && unicode.IsUpper(cur) && i+1 < len(rs) && unicode.IsLower(rs[i+1]) {
			boundary = true
		}
		if boundary && i > start {
			words = append(words, string(rs[start:i]))
			start = i
		}
	}
	var out []string
	for _, w := range words {
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}
