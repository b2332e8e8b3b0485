/*
 * The GPU a real cabin has, and these machines do not: for cage's headless backend only.
 *
 * Debian 12's cage 0.1.4 links wlroots 0.15.1, whose renderer wants a DRM render node even for
 * the headless backend with the pixman (software) renderer: without /dev/dri it stops with
 * "drmGetDevices2 failed: No such file or directory", and WLR_RENDER_DRM_DEVICE=/dev/null stops
 * with "'/dev/null' is not a DRM render node" (wlroots 0.17 added WLR_RENDERER_FORCE_SOFTWARE for
 * this; 0.15 has no such switch). This library, preloaded into cage only in the container test,
 * answers "a render node" for /dev/null and nothing else: the pixman renderer never uses that
 * descriptor (its buffers come from the shared-memory allocator), so cage, Xwayland, the cabin
 * and grim run their own unchanged code.
 *
 * Built by tests/deploy/container.py into the container's root (gcc, the host's glibc: both are
 * Debian 12's), used with LD_PRELOAD, WLR_RENDERER=pixman and WLR_RENDER_DRM_DEVICE=/dev/null.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define DRM_NODE_RENDER 2

int drmGetNodeTypeFromFd(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
        return DRM_NODE_RENDER;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "drmGetNodeTypeFromFd");
    return real ? real(fd) : -1;
}
