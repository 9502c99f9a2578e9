// The C half of the ext_nested twin: a C function that calls back into Go.
package main

/*
extern void goEmpty(void);

__attribute__((noinline)) void nested(void) {
	goEmpty();
}
*/
import "C"
