/*
 * routing_skeleton.h - a routing extension with two hooks, for fixtures whose bug
 * fits in one place: define bug_init() (runs in FaxRouteInitialize, after the
 * extension registered for the global flag) and bug_change() (runs in its
 * ConfigChange handler) before including this file.
 */
#ifndef FAXSIM_ROUTING_SKELETON_H
#define FAXSIM_ROUTING_SKELETON_H

#include "fixture.h"

static void bug_init(void);
static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size);

static HANDLE g_handle;

static HRESULT WINAPI on_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    return bug_change(device, guid, data, size);
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER fre)
{
    FIXTURE_KEEP_CALLBACKS(get, set, reg, unreg, fre);
    return NOERROR;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteInitialize(HANDLE heap, PFAX_ROUTE_CALLBACKROUTINES cbs)
{
    (void)heap;
    (void)cbs;
    g_handle = g_register(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, FLAGS_GUID, on_change);
    bug_init();
    return TRUE;
}

FAXSIM_EXPORT BOOL WINAPI FaxRouteDeviceChangeNotification(DWORD device, BOOL added)
{
    (void)device;
    (void)added;
    return TRUE;
}

FIXTURE_ROUTING_STUBS

#endif
