/* Compiled (never run) by tests/c_header.rs as C11, C++11 and, when the
 * MinGW cross compilers are installed, for Windows x86-64 and x86. It
 * writes an extension the way an author would and checks the header's
 * types and values against faxsim-abi (expected_values.h is generated from
 * the Rust constants by the test). */
#include "faxsim_ext.h"

#include <stddef.h>
#include <string.h>

#include "expected_values.h"

#ifdef __cplusplus
#define SA(c) static_assert(c, #c)
#else
#define SA(c) _Static_assert(c, #c)
#endif

/* Sizes the ABI depends on. */
SA(sizeof(DWORD) == 4);
SA(sizeof(BOOL) == 4);
SA(sizeof(LONG) == 4);
SA(sizeof(HRESULT) == 4);
SA(sizeof(WCHAR) == 2);
SA(sizeof(HLINEAPP) == 4);
SA(sizeof(FAX_ENUM_DEVICE_ID_SOURCE) == 4);
SA(sizeof(HANDLE) == sizeof(void *));
SA(sizeof(HINSTANCE) == sizeof(void *));
SA(sizeof(ULONG_PTR) == sizeof(void *));
SA(sizeof(GUID) == 16);
SA(sizeof(PFAX_EXT_GET_DATA) == sizeof(void *));
SA(sizeof(FAX_ROUTE_CALLBACKROUTINES) == 6 * sizeof(void *));
SA((HRESULT)-1 < 0);  /* HRESULT is signed */
SA((DWORD)-1 > 0);    /* DWORD is unsigned */

/* Values must equal the Rust crate's. */
SA(DEV_ID_SRC_FAX == EXPECT_DEV_ID_SRC_FAX);
SA(DEV_ID_SRC_TAPI == EXPECT_DEV_ID_SRC_TAPI);
SA(ERROR_SUCCESS == EXPECT_ERROR_SUCCESS);
SA(ERROR_FILE_NOT_FOUND == EXPECT_ERROR_FILE_NOT_FOUND);
SA(ERROR_NOT_ENOUGH_MEMORY == EXPECT_ERROR_NOT_ENOUGH_MEMORY);
SA(ERROR_GEN_FAILURE == EXPECT_ERROR_GEN_FAILURE);
SA(ERROR_ALREADY_ASSIGNED == EXPECT_ERROR_ALREADY_ASSIGNED);
SA(ERROR_INVALID_PARAMETER == EXPECT_ERROR_INVALID_PARAMETER);
SA(ERROR_BUSY == EXPECT_ERROR_BUSY);
SA(ERROR_BADDB == EXPECT_ERROR_BADDB);
SA(ERROR_SHUTDOWN_IN_PROGRESS == EXPECT_ERROR_SHUTDOWN_IN_PROGRESS);
SA(ERROR_NOT_FOUND == EXPECT_ERROR_NOT_FOUND);
SA(NOERROR == EXPECT_NOERROR);
SA(S_OK == EXPECT_S_OK);
SA(E_FAIL == EXPECT_E_FAIL);
SA(QUERY_STATUS == EXPECT_QUERY_STATUS);
SA(STATUS_DISABLE == EXPECT_STATUS_DISABLE);
SA(STATUS_ENABLE == EXPECT_STATUS_ENABLE);
SA(FAXSIM_MAX_DEVICE_NAME_PREFIX_CHARS == EXPECT_MAX_DEVICE_NAME_PREFIX_CHARS);
#ifdef EXPECT_ROUTE_CALLBACKS_SIZE /* native builds only: host layout */
SA(sizeof(FAX_ROUTE_CALLBACKROUTINES) == EXPECT_ROUTE_CALLBACKS_SIZE);
SA(offsetof(FAX_ROUTE_CALLBACKROUTINES, FaxRouteAddFile) == EXPECT_ROUTE_ADD_FILE_OFFSET);
SA(offsetof(FAX_ROUTE_CALLBACKROUTINES, FaxRouteModifyRoutingData) == EXPECT_ROUTE_MODIFY_OFFSET);
#endif

/* ---- an extension, as an author writes it ---- */

static PFAX_EXT_GET_DATA g_get;
static PFAX_EXT_SET_DATA g_set;
static PFAX_EXT_REGISTER_FOR_EVENTS g_reg;
static PFAX_EXT_UNREGISTER_FOR_EVENTS g_unreg;
static PFAX_EXT_FREE_BUFFER g_free;
static HANDLE g_note;

#define MY_GUID FAXSIM_W("{6D7C1E57-1F53-4E5A-9E9E-2B7E0F5B4C11}")

static HRESULT WINAPI on_change(DWORD dev, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)dev;
    (void)guid;
    (void)data;
    (void)size;
    return NOERROR;
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER free_buffer)
{
    g_get = get;
    g_set = set;
    g_reg = reg;
    g_unreg = unreg;
    g_free = free_buffer;
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevInitialize(HLINEAPP app, HANDLE heap, PFAX_LINECALLBACK *line,
                                           PFAX_SERVICE_CALLBACK svc)
{
    LPBYTE data = NULL;
    DWORD size = 0;
    BYTE value[4] = {1, 2, 3, 4};
    (void)app;
    (void)heap;
    (void)svc;
    *line = NULL;
    if (g_get(0, DEV_ID_SRC_TAPI, MY_GUID, &data, &size) == ERROR_SUCCESS) {
        g_free(data);
    }
    if (g_set(faxsim_module_handle(), 0, DEV_ID_SRC_TAPI, MY_GUID, value, sizeof value) ==
        ERROR_BUSY) {
        return FALSE;
    }
    g_note = g_reg(faxsim_module_handle(), 0, DEV_ID_SRC_TAPI, MY_GUID, on_change);
    return g_note != NULL && g_note != INVALID_HANDLE_VALUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxDevVirtualDeviceCreation(LPDWORD count, LPWSTR prefix, LPDWORD id_prefix,
                                                      HANDLE port, ULONG_PTR key)
{
    static const WCHAR name[] = FAXSIM_W("Sim");
    (void)port;
    (void)key;
    memcpy(prefix, name, sizeof name);
    *count = 2;
    *id_prefix = 0x10000;
    return TRUE;
}

FAXSIM_EXPORT HRESULT WINAPI FaxDevShutdown(void)
{
    return g_unreg(g_note) == ERROR_SUCCESS ? S_OK : E_FAIL;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cb)
{
    (void)heap;
    return cb->SizeOfStruct >= sizeof *cb;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceEnable(LPCWSTR guid, DWORD dev, LONG enabled)
{
    (void)guid;
    (void)dev;
    return enabled == QUERY_STATUS ? TRUE : FALSE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD dev, BOOL added)
{
    (void)dev;
    return added;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR guid, DWORD dev, LPBYTE info, LPDWORD size)
{
    (void)guid;
    (void)dev;
    (void)info;
    *size = 0;
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR guid, DWORD dev, const BYTE *info, DWORD size)
{
    (void)guid;
    (void)dev;
    (void)info;
    (void)size;
    return TRUE;
}

/* Every entry point converts to its pointer typedef without a cast. */
FAXSIM_EXPORT int faxsim_check_pointer_types(void);
int faxsim_check_pointer_types(void)
{
    PFAX_EXT_INITIALIZE_CONFIG a = FaxExtInitializeConfig;
    PFAX_EXT_CONFIG_CHANGE b = on_change;
    PFAXDEVINITIALIZE c = FaxDevInitialize;
    PFAXDEVVIRTUALDEVICECREATION d = FaxDevVirtualDeviceCreation;
    PFAXDEVSHUTDOWN e = FaxDevShutdown;
    PFAXROUTEINITIALIZE f = FaxRouteInitialize;
    PFAXROUTEDEVICEENABLE g = FaxRouteDeviceEnable;
    PFAXROUTEDEVICECHANGENOTIFICATION h = FaxRouteDeviceChangeNotification;
    PFAXROUTEGETROUTINGINFO i = FaxRouteGetRoutingInfo;
    PFAXROUTESETROUTINGINFO j = FaxRouteSetRoutingInfo;
    return a && b && c && d && e && f && g && h && i && j;
}
