/* Must NOT compile for 32-bit x86 Windows: a change handler declared
 * without WINAPI is cdecl there, and the typedef requires stdcall. */
#include "faxsim_ext.h"

static HRESULT on_change(DWORD dev, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)dev;
    (void)guid;
    (void)data;
    (void)size;
    return NOERROR;
}

PFAX_EXT_CONFIG_CHANGE faxsim_handler = on_change;
