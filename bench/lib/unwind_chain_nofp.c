/*
 * unwind_chain_nofp.c - bench/unwind_cost.c's call chain built
 * -fomit-frame-pointer (CMakeLists.txt): the walk needs the CFI tables.
 */
#define CHAIN_FN chain_nofp
#include "unwind_chain.h"
