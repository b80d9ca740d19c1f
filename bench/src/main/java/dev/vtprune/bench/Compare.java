package dev.vtprune.bench;

/** ||a - b|| / ||a||, NaN-aware (NaN anywhere gives infinity). */
final class Compare {
    private Compare() {}

    static double relativeError(double[] ref, double[] got) {
        if (ref.length != got.length) return Double.POSITIVE_INFINITY;
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            if (Double.isNaN(ref[i]) || Double.isNaN(got[i])) return Double.POSITIVE_INFINITY;
            num += (got[i] - ref[i]) * (got[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
    }
}
