/*
 * fixture.h - shared boilerplate of faxsim's C fixture extensions.
 *
 * Each fixture is one small library: careful_*.c follow every rule, buggy_<rule>.c
 * break exactly one rule of the catalog (see extensions/README.md). They include
 * faxsim_ext.h (sim/abi/include) like any extension built without the Windows SDK.
 */
#ifndef FAXSIM_FIXTURE_H
#define FAXSIM_FIXTURE_H

#include "faxsim_ext.h"

#include <stdlib.h>
#include <string.h>

/* The routing flags GUID of Microsoft's routing sample; mixed case on purpose. */
#define FLAGS_GUID FAXSIM_W("{0A9D7B3A-A35E-4cc6-B73C-1F635136057B}")
/* A second value: a provider's line status. */
#define STATUS_GUID FAXSIM_W("{6f1c2a7e-93b4-4d0e-8a55-2b7c9e4d1f60}")

#if defined(__GNUC__) || defined(__clang__)
#define FIXTURE_MAYBE_UNUSED __attribute__((unused))
#else
#define FIXTURE_MAYBE_UNUSED
#endif

/* The five callbacks, kept when FaxExtInitializeConfig hands them out. */
static PFAX_EXT_GET_DATA g_get_data FIXTURE_MAYBE_UNUSED;
static PFAX_EXT_SET_DATA g_set_data FIXTURE_MAYBE_UNUSED;
static PFAX_EXT_REGISTER_FOR_EVENTS g_register FIXTURE_MAYBE_UNUSED;
static PFAX_EXT_UNREGISTER_FOR_EVENTS g_unregister FIXTURE_MAYBE_UNUSED;
static PFAX_EXT_FREE_BUFFER g_free_buffer FIXTURE_MAYBE_UNUSED;

#define FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre)                      \
    do {                                                                       \
        g_get_data = (get);                                                    \
        g_set_data = (set);                                                    \
        g_register = (reg);                                                    \
        g_unregister = (unreg);                                                \
        g_free_buffer = (fre);                                                 \
    } while (0)

/* Reads a DWORD-sized value the careful way: copy, free once, default on error. */
static inline DWORD fixture_read_dword(DWORD device, FAX_ENUM_DEVICE_ID_SOURCE source,
                                LPCWSTR guid, DWORD fallback)
{
    LPBYTE data = NULL;
    DWORD size = 0;
    DWORD value = fallback;
    if (g_get_data(device, source, guid, &data, &size) != ERROR_SUCCESS) {
        return fallback;
    }
    if (data != NULL && size >= sizeof(DWORD)) {
        memcpy(&value, data, sizeof(DWORD));
    }
    g_free_buffer(data);
    return value;
}

/* The routing entry points a fixture does not care about. */
#define FIXTURE_ROUTING_STUBS                                                  \
    FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceEnable(LPCWSTR g, DWORD d, LONG e) \
    {                                                                          \
        (void)g; (void)d; (void)e;                                             \
        return TRUE;                                                           \
    }                                                                          \
    FAXSIM_EXPORT BOOL WINAPI FaxRouteGetRoutingInfo(LPCWSTR g, DWORD d,       \
                                                     LPBYTE i, LPDWORD s)      \
    {                                                                          \
        (void)g; (void)d; (void)i; (void)s;                                    \
        return FALSE;                                                          \
    }                                                                          \
    FAXSIM_EXPORT BOOL WINAPI FaxRouteSetRoutingInfo(LPCWSTR g, DWORD d,       \
                                                     const BYTE *i, DWORD s)   \
    {                                                                          \
        (void)g; (void)d; (void)i; (void)s;                                    \
        return FALSE;                                                          \
    }

#endif /* FAXSIM_FIXTURE_H */
