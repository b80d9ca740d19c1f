package dev.vtprune.bench;

import dev.vtprune.ops.Backend;
import dev.vtprune.ops.NativeLibrary;
import org.bytedeco.javacpp.PointerScope;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * One op at one shape with one backend. Before timing, the setup runs the op with both
 * backends, checks that their outputs agree, and checks that the backend under test is the
 * one that ran (a native call was made for NATIVE, none for LIBTORCH) — never assumed.
 */
@State(Scope.Benchmark)
public abstract class OpState {
    @Param({"LLAVA", "INTERNVL"})
    public Shape shape;

    @Param({"NATIVE", "LIBTORCH"})
    public Backend backend;

    protected Inputs in;

    /** The op under test; the result is closed by the caller. */
    protected abstract AutoCloseable call(Backend b);

    /** The result as numbers, to compare the backends (outside the timed path). */
    protected abstract double[] read(AutoCloseable result);

    /** The op's name in messages. */
    protected abstract String name();

    /** Relative error allowed between the backends (float32 accumulation orders differ). */
    protected double tolerance() {
        return 1e-4;
    }

    @Setup(Level.Trial)
    public void setUp() {
        NativeLibrary.load();
        in = new Inputs(shape, 42);
        warm(Backend.NATIVE);  // makes the lazily built inputs (some come from a native op) before calls are counted
        double[] mine = runOnce(backend);
        if (backend == Backend.NATIVE) {  // the comparison once per op and shape, in the NATIVE trial
            double[] other = runOnce(Backend.LIBTORCH);
            double err = Compare.relativeError(other, mine);
            if (!(err <= tolerance())) {
                throw new IllegalStateException(name() + " " + shape + ": the backends disagree, "
                        + "relative error " + err + " > " + tolerance());
            }
        }
    }

    private void warm(Backend b) {
        try (PointerScope scope = new PointerScope(); AutoCloseable r = call(b)) {
            // nothing: the inputs now exist
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private double[] runOnce(Backend b) {
        long before = NativeLibrary.callCount();
        try (PointerScope scope = new PointerScope(); AutoCloseable r = call(b)) {
            boolean native_ = NativeLibrary.callCount() > before;
            if (native_ != (b == Backend.NATIVE)) {
                throw new IllegalStateException(name() + ": backend " + b + " was asked for but "
                        + (native_ ? "a native kernel ran" : "no native kernel ran"));
            }
            return read(r);
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The timed body: one call, temporaries and result freed inside the measurement. */
    protected void measure(Blackhole bh) throws Exception {
        try (PointerScope scope = new PointerScope(); AutoCloseable r = call(backend)) {
            bh.consume(r);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        in.close();
    }
}
