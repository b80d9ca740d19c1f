package dev.vtprune.io;

import java.util.Collection;
import java.util.stream.Collectors;

/** The messages of this package's IllegalArgumentExceptions: where, what, expected, actual. */
final class IoErrors {
    private IoErrors() {}

    /** How many names a "no such tensor" message lists. */
    private static final int LISTED_NAMES = 5;

    /** "&lt;where&gt;: &lt;subject&gt; must &lt;expected&gt;, got &lt;actual&gt;". */
    static IllegalArgumentException invalid(String where, String subject, String expected, Object actual) {
        return new IllegalArgumentException(where + ": " + subject + " must " + expected + ", got " + actual);
    }

    /** "1 tensor", "2 tensors". */
    static String count(long n, String noun) {
        return n + " " + noun + (n == 1 ? "" : "s");
    }

    /** "'a', 'b', 'c', ...": the first few names, quoted. */
    static String some(Collection<String> names) {
        String listed = names.stream().limit(LISTED_NAMES).map(n -> "'" + n + "'").collect(Collectors.joining(", "));
        return names.size() > LISTED_NAMES ? listed + ", ..." : listed;
    }

    /** A request for a name the source does not hold; lists a few of the names it does hold. */
    static IllegalArgumentException missing(String source, String name, Collection<String> names) {
        String expected = names.isEmpty() ? "be a tensor name, but the source holds no tensors"
                : "be one of the " + count(names.size(), "tensor") + " it holds (" + some(names) + ")";
        return invalid(source, "tensor name", expected, name == null ? "null" : "'" + name + "'");
    }
}
