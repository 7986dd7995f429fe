/* extension-hung: never returns from its change handler (validate it with --isolate). */
#include "routing_skeleton.h"

#if !defined(_WIN32)
#include <unistd.h>
#endif

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    for (;;) { /* BUG: waits for something that never happens */
#if defined(_WIN32)
        Sleep(1000);
#else
        sleep(1);
#endif
    }
    return NOERROR;
}
