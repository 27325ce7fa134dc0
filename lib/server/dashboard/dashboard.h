/*
 * dashboard.h - the dashboard's files, compiled into the program by
 * lib/linux/embed.py (lib/server/meson.build): each function returns one
 * file's whole text, NUL-terminated, static (never freed).  static.c serves
 * them; this list and its table there change together.
 */
#ifndef AP_SERVER_DASHBOARD_H
#define AP_SERVER_DASHBOARD_H

const char *ap_srv_dash_index_html(void);
const char *ap_srv_dash_app_css(void);
const char *ap_srv_dash_app_js(void);
const char *ap_srv_dash_favicon_svg(void);

#endif /* AP_SERVER_DASHBOARD_H */
