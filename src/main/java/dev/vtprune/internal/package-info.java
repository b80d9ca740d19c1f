/**
 * Not API: helpers every layer shares and no user should call. {@link dev.vtprune.internal.Args}
 * checks arguments with the project's one message form (argument name, expected, actual);
 * {@link dev.vtprune.internal.Tensors} describes, addresses and allocates LibTorch tensors for
 * the native calls; {@link dev.vtprune.internal.OpScope} frees the native temporaries of one call.
 * They may change in any release.
 *
 * <p>Uses only LibTorch (JavaCPP), the JDK and {@code nativelib} (for its dtype codes).
 */
package dev.vtprune.internal;
