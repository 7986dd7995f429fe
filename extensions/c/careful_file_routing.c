/* A careful routing extension whose routing methods use the job-side routines the service
 * hands to FaxRouteInitialize, as a "store in a folder" or "convert and print" method does:
 *
 *   StoreInFolder (method {A1B2C3D4-0000-4000-8000-000000000001}) asks for file 1's name
 *     (FaxRouteGetFile: size query, then a buffer from the service's heap), opens it and
 *     checks it is a TIFF, writes a text file beside it and adds it to the fax's file list
 *     (FaxRouteAddFile), counts the list (FaxRouteEnumFiles with its own enumerator),
 *     hands "hello" to PrintIt (FaxRouteModifyRoutingData), reads its settings for the
 *     device (GetData, FreeBuffer) and removes its text file again (FaxRouteDeleteFile).
 *   PrintIt (method {A1B2C3D4-0000-4000-8000-000000000002}) records what it was handed in
 *     FAX_ROUTE.RoutingInfoData ("hello", or "none") with SetData.
 *
 * Validate it with
 *   --routing-method {A1B2C3D4-0000-4000-8000-000000000001}=StoreInFolder
 *   --routing-method {A1B2C3D4-0000-4000-8000-000000000002}=PrintIt
 * FILE_BUG selects the buggy variant (buggy_file_list_leak.c). */
#include "fixture.h"

#include <stdio.h>

#ifndef FILE_BUG
#define FILE_BUG 0
#endif

#define STORE_GUID FAXSIM_W("{A1B2C3D4-0000-4000-8000-000000000001}")
#define PRINT_GUID FAXSIM_W("{A1B2C3D4-0000-4000-8000-000000000002}")
static GUID g_store_guid = {0xA1B2C3D4, 0x0000, 0x4000, {0x80, 0, 0, 0, 0, 0, 0, 0x01}};

static HANDLE g_heap;
static PFAX_ROUTE_CALLBACKROUTINES g_routines;

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    if (heap == NULL || cbs == NULL ||
        cbs->SizeOfStruct < sizeof(FAX_ROUTE_CALLBACKROUTINES)) {
        return FALSE;
    }
    g_heap = heap;
    g_routines = cbs; /* the service keeps the table alive as long as the extension */
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device; (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS

/* Opens a file named in UTF-16 (ASCII names only where there is no _wfopen). */
static FILE *open_wide(LPCWSTR name, const char *mode)
{
#ifdef _WIN32
    wchar_t wmode[4] = {0};
    size_t i;
    for (i = 0; mode[i] != 0 && i < 3; i++) {
        wmode[i] = (wchar_t)mode[i];
    }
    return _wfopen((const wchar_t *)name, wmode);
#else
    char narrow[4096];
    size_t i;
    for (i = 0; name[i] != 0 && i + 1 < sizeof(narrow); i++) {
        if (name[i] > 0x7f) {
            return NULL;
        }
        narrow[i] = (char)name[i];
    }
    narrow[i] = 0;
    return fopen(narrow, mode);
#endif
}

static size_t wide_len(LPCWSTR s)
{
    size_t n = 0;
    while (s[n] != 0) {
        n++;
    }
    return n;
}

/* FaxRouteEnumFile: counts the files. */
static BOOL WINAPI count_file(DWORD job, GUID *owner, GUID *caller, LPCWSTR name,
                              PVOID context)
{
    DWORD *count = (DWORD *)context;
    (void)job; (void)owner; (void)caller;
    if (name == NULL || count == NULL) {
        return FALSE;
    }
    *count += 1;
#if FILE_BUG
    if (*count > 1) {
        /* BUG (FILE_BUG): a file some method added: its settings are read and the
         * buffer is never freed. Only a service whose file list works gets here. */
        LPBYTE settings = NULL;
        DWORD n = 0;
        g_get_data(0, DEV_ID_SRC_FAX, STORE_GUID, &settings, &n);
    }
#endif
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI StoreInFolder(const FAX_ROUTE *route, PVOID *failure_data,
                                        LPDWORD failure_size)
{
    DWORD size = 0;
    LPWSTR received = NULL;
    LPWSTR text_name = NULL;
    DWORD count = 0;
    BOOL ok = FALSE;
    FILE *f;
    unsigned char magic[4] = {0};
    static const unsigned char hello[5] = {'h', 'e', 'l', 'l', 'o'};
    size_t len;
    (void)failure_data; (void)failure_size;
    if (route == NULL || route->SizeOfStruct < sizeof(FAX_ROUTE) || g_routines == NULL) {
        return FALSE;
    }
    /* The received fax is file 1: ask for the size, then for the name. */
    if (!g_routines->FaxRouteGetFile(route->JobId, 1, NULL, &size) || size == 0) {
        return FALSE;
    }
    received = (LPWSTR)HeapAlloc(g_heap, HEAP_ZERO_MEMORY, size);
    if (received == NULL) {
        return FALSE;
    }
    if (!g_routines->FaxRouteGetFile(route->JobId, 1, received, &size)) {
        goto done;
    }
    f = open_wide(received, "rb");
    if (f == NULL) {
        goto done;
    }
    if (fread(magic, 1, 4, f) != 4 || magic[0] != 'I' || magic[1] != 'I' || magic[2] != 42) {
        fclose(f);
        goto done;
    }
    fclose(f);
    /* A text version beside it, added to the fax's file list. */
    len = wide_len(received);
    text_name = (LPWSTR)HeapAlloc(g_heap, HEAP_ZERO_MEMORY, (len + 5) * sizeof(WCHAR));
    if (text_name == NULL) {
        goto done;
    }
    memcpy(text_name, received, len * sizeof(WCHAR));
    text_name[len] = '.';
    text_name[len + 1] = 't';
    text_name[len + 2] = 'x';
    text_name[len + 3] = 't';
    f = open_wide(text_name, "wb");
    if (f == NULL) {
        goto done;
    }
    fputs("a one-page fax\n", f);
    fclose(f);
    if (g_routines->FaxRouteAddFile(route->JobId, text_name, &g_store_guid) != 2) {
        goto done;
    }
    if (!g_routines->FaxRouteEnumFiles(route->JobId, &g_store_guid, count_file, &count) ||
        count != 2) {
        goto done;
    }
    if (!g_routines->FaxRouteModifyRoutingData(route->JobId, PRINT_GUID, (LPBYTE)hello,
                                               sizeof(hello))) {
        goto done;
    }
    (void)fixture_read_dword(route->DeviceId, DEV_ID_SRC_FAX, STORE_GUID, 0);
    /* The received fax itself cannot be removed; the text file can. */
    if (g_routines->FaxRouteDeleteFile(route->JobId, received) != -1 ||
        g_routines->FaxRouteDeleteFile(route->JobId, text_name) != 2) {
        goto done;
    }
    ok = TRUE;
done:
    if (text_name != NULL) {
        f = open_wide(text_name, "rb");
        if (f != NULL) {
            fclose(f);
#ifdef _WIN32
            _wremove((const wchar_t *)text_name);
#else
            {
                char narrow[4096];
                size_t i;
                for (i = 0; text_name[i] != 0 && i + 1 < sizeof(narrow); i++) {
                    narrow[i] = (char)text_name[i];
                }
                narrow[i] = 0;
                remove(narrow);
            }
#endif
        }
        HeapFree(g_heap, 0, text_name);
    }
    HeapFree(g_heap, 0, received);
    return ok;
}

FAXSIM_EXPORT BOOL WINAPI PrintIt(const FAX_ROUTE *route, PVOID *failure_data,
                                  LPDWORD failure_size)
{
    static const BYTE none[4] = {'n', 'o', 'n', 'e'};
    (void)failure_data; (void)failure_size;
    if (route == NULL || route->SizeOfStruct < sizeof(FAX_ROUTE)) {
        return FALSE;
    }
    if (route->RoutingInfoData != NULL && route->RoutingInfoDataSize > 0) {
        g_set_data(faxsim_module_handle(), route->DeviceId, DEV_ID_SRC_FAX, STATUS_GUID,
                   route->RoutingInfoData, route->RoutingInfoDataSize);
    } else {
        g_set_data(faxsim_module_handle(), route->DeviceId, DEV_ID_SRC_FAX, STATUS_GUID, none,
                   sizeof(none));
    }
    return TRUE;
}
