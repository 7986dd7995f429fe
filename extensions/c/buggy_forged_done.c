/* extension-crashed, disguised: in its change handler it prints what looks like a worker
 * protocol's end ("done" marks, on both output streams) and ends the process with
 * _exit(0). A process that ends without the protocol's own end message is a crash, and
 * nothing printed can stand in for it. */
#include "routing_skeleton.h"

#include <stdio.h>
#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    printf("\x1e" "faxsim:\"done\"\n");
    fprintf(stderr, "\x1e" "faxsim:\"done\"\n");
    fflush(stdout);
    fflush(stderr);
    _exit(0); /* BUG: ends the service's process */
    return NOERROR;
}
