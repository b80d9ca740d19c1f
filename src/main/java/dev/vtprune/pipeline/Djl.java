package dev.vtprune.pipeline;

/**
 * DJL's process-wide settings, applied before any DJL class is used. DJL's "offline" property
 * stops two network calls it would otherwise make: a download of natives missing from the jar
 * (ours are inside the jars, so none is needed) and a telemetry probe of the EC2 metadata
 * address on first use of a tokenizer. vtprune never reaches out to the network.
 */
final class Djl {
    private Djl() {}

    /** DJL's release, for descriptions; both DJL jars come from this one version (pom.xml). */
    static final String VERSION;

    static {
        System.setProperty("offline", "true");
        Package p = ai.djl.util.Utils.class.getPackage();
        String v = p == null ? null : p.getSpecificationVersion();
        VERSION = v == null ? "unknown" : v;
    }

    /** Call before touching DJL (class initialisation does the work, once). */
    static void init() {}
}
