/*
 * Part of tousu's integration-test harness (deploy/es-launcher). Compiled
 * only for the es-secure node of deploy/dev/services.sh.
 */
package org.elasticsearch.xpack.security;

import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The analysis parts of the analysis-common module (not on Maven Central)
 * that the security plugin's own index, .security, needs for its "email"
 * analyzer: the uax_url_email tokenizer and the pattern_capture and unique
 * token filters, made of the same Lucene classes as in the distribution.
 * Without them the node cannot create .security, so no API key.
 */
public class TousuAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("uax_url_email", (indexSettings, env, name, settings) -> TokenizerFactory.newFactory(name, UAX29URLEmailTokenizer::new));
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        AnalysisProvider<TokenFilterFactory> capture = (indexSettings, env, name, settings) -> {
            List<String> regexes = settings.getAsList("patterns");
            Pattern[] patterns = regexes.stream().map(Pattern::compile).toArray(Pattern[]::new);
            boolean preserve = settings.getAsBoolean("preserve_original", true);
            return new AbstractTokenFilterFactory(name, settings) {
                @Override
                public TokenStream create(TokenStream in) {
                    return new PatternCaptureGroupTokenFilter(in, preserve, patterns);
                }
            };
        };
        AnalysisProvider<TokenFilterFactory> unique = (indexSettings, env, name, settings) -> new AbstractTokenFilterFactory(name, settings) {
            @Override
            public TokenStream create(TokenStream in) {
                return new Unique(in);
            }
        };
        return Map.of("pattern_capture", capture, "unique", unique);
    }

    /** Unique drops every token whose term came before in the stream. */
    private static final class Unique extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final CharArraySet seen = new CharArraySet(8, false);

        Unique(TokenStream in) {
            super(in);
        }

        @Override
        public boolean incrementToken() throws IOException {
            while (input.incrementToken()) {
                if (seen.contains(term.buffer(), 0, term.length()) == false) {
                    seen.add(term.toString());
                    return true;
                }
            }
            return false;
        }

        @Override
        public void reset() throws IOException {
            super.reset();
            seen.clear();
        }
    }
}
