/* extension-crashed, before any entry point: the library's own initialiser (a
 * constructor; DllMain on Windows) dereferences a null pointer, so loading it kills the
 * process. The report must name this library, not "an unknown extension". */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}

static void crash_now(void)
{
    volatile int *nowhere = NULL;
    *nowhere = 1; /* BUG */
}

#if defined(_WIN32)
BOOL WINAPI DllMain(HINSTANCE module, DWORD reason, LPVOID reserved)
{
    (void)module; (void)reserved;
    if (reason == DLL_PROCESS_ATTACH) {
        crash_now();
    }
    return TRUE;
}
#else
__attribute__((constructor)) static void on_load(void) { crash_now(); }
#endif
