package dev.vtprune.prune;

import java.util.List;

/** The pruning methods by command-line name. */
public final class Pruners {
    private Pruners() {}

    public static final List<String> NAMES = List.of("ptp", "cls-topk", "random", "spatial", "fastv");

    /**
     * @param ptp   the PTP configuration (its ratio is used by every method; its alpha and
     *              reductions by PTP; its lmLayer is FastV's layer K)
     * @param seed  for "random"
     */
    public static TokenPruner byName(String name, PyramidTokenPruner.Config ptp, long seed) {
        switch (name) {
            case "ptp": return new PyramidTokenPruner(ptp);
            case "cls-topk": return new ClsTopKPruner(ptp.ratio(), ptp.headReduce(), ptp.backend());
            case "random": return new RandomPruner(ptp.ratio(), seed);
            case "spatial": return new SpatialPruner(ptp.ratio());
            case "fastv": return new FastVPruner(ptp.ratio(), ptp.lmLayer(), ptp.backend());
            default: throw new IllegalArgumentException("unknown method '" + name + "'; methods: " + String.join(", ", NAMES));
        }
    }
}
