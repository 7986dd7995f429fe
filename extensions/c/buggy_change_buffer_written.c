/* change-buffer-written: byte-swaps the notification's lpData in place. */
#include "routing_skeleton.h"

static DWORD g_flag;

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid;
    if (data != NULL && size >= 4) {
        BYTE t = data[0]; /* BUG: lpData is the service's; copy it first */
        data[0] = data[3];
        data[3] = t;
        memcpy(&g_flag, data, sizeof(DWORD));
    }
    return NOERROR;
}
