package dev.vtprune.eval;

/** A binomial proportion with its 95% Wilson score interval (sound at small n and near 0 or 1). */
public record Accuracy(int right, int n, double low, double high) {
    private static final double Z = 1.959963984540054;

    public static Accuracy of(int right, int n) {
        if (n < 1 || right < 0 || right > n) {
            throw new IllegalArgumentException("accuracy needs 0 <= right <= n, n >= 1; got " + right + " of " + n);
        }
        double p = (double) right / n, z2 = Z * Z;
        double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        double half = Z * Math.sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
        // The exact interval holds p (its ends are 0 at right = 0 and 1 at right = n); rounding
        // put the low end at 5.6e-17 > p = 0 once, so the ends are clamped to p as well as to [0, 1].
        return new Accuracy(right, n, Math.max(0, Math.min(p, centre - half)), Math.min(1, Math.max(p, centre + half)));
    }

    public double value() {
        return (double) right / n;
    }
}
