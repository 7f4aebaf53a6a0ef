/* Test helper: checks a Prometheus text exposition with the real parser, `promtool check metrics`
 * (Debian package prometheus, installed by scripts/install-deps.sh). Parse errors fail; lint remarks
 * are allowed only where they follow from Triton's metric names, which clients depend on. */
#ifndef IG_TEST_PROMTOOL_H
#define IG_TEST_PROMTOOL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Returns 0 when promtool accepts text; prints why not otherwise. */
static int promtool_check(const char *text, size_t len)
{
    if (access("/usr/bin/promtool", X_OK) && system("command -v promtool >/dev/null 2>&1")) {
        fprintf(stderr, "promtool not found: run scripts/install-deps.sh (Debian package prometheus)\n");
        return -1;
    }
    char path[] = "/tmp/ig_test_promXXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f || fwrite(text, 1, len, f) != len) {
        if (f) fclose(f);
        unlink(path);
        return -1;
    }
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        unlink(path);
        return -1;
    }
    int bad = 0;
    char line[1024];
    static const char *const allowed[] = {
        "counter metrics should have \"_total\" suffix",     /* Triton's nv_* counters */
        "should not have \"_count\" suffix",                 /* nv_inference_count, nv_inference_exec_count */
        "metric names should not contain abbreviated units", /* Triton's *_us, *_secs */
    };
    while (fgets(line, sizeof(line), p)) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
            if (strstr(line, allowed[i]) && strncmp(line, "error", 5)) ok = 1;
        if (!ok) {
            fprintf(stderr, "promtool: %s", line);
            bad = 1;
        }
    }
    int st = pclose(p);
    unlink(path);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc != 0 && rc != 3) { /* 3 = lint remarks only; 1 = parse error */
        fprintf(stderr, "promtool exited %d\n", rc);
        bad = 1;
    }
    return bad ? -1 : 0;
}

#endif
