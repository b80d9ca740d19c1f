/**
 * The JavaCPP binding of the C ABI ({@code src/main/cpp/include/vtprune/vtprune.h}) and nothing
 * else: raw addresses in, status codes out. Not for direct use: {@code dev.vtprune.ops} validates
 * every argument before it calls here.
 */
package dev.vtprune.nativelib;
