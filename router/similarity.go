package router

// Bigrams is the set of character bigrams of text as the classifier reads
// it: cleaned, lower-cased, digits folded, no bigram spanning punctuation
// or spaces.
func Bigrams(text string) map[string]bool {
	return gramSet(text, 2, 2)
}

// Jaccard is the Jaccard index of two sets of n-grams (see Bigrams): 1 for
// equal sets, 0 for disjoint ones or when either is empty.
func Jaccard(a, b map[string]bool) float64 {
	return jaccard(a, b)
}
