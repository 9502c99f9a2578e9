/*
 * prof_plt_lib.c - the shared library tests/prof_plt.c calls through its
 * PLT.  Built -fomit-frame-pointer, as distributions build libraries
 * (CMakeLists.txt): plt_tiny is a frameless leaf of a few instructions, so a sample
 * in it, as one in the PLT stub that jumps to it, has only the CFI to find
 * its caller by.
 */
unsigned plt_tiny(unsigned x) {
  return (x * 3 + 1) ^ (x >> 7);
}
