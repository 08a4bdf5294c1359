#ifndef STARLING_CUSRSCTP_SHIM_H
#define STARLING_CUSRSCTP_SHIM_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <usrsctp.h>

/*
 * Helpers over usrsctp's socket API for StarlingTransport's SCTPAssociation: struct building and option
 * setting are simpler in C than through Swift's view of these unions and flexible arrays. The association is
 * named by an opaque integer (`id`), passed to usrsctp as the AF_CONN address; never an object pointer.
 */

static inline struct sockaddr_conn starling_sctp_sconn(uintptr_t id, uint16_t port) {
    struct sockaddr_conn a;
    memset(&a, 0, sizeof(a));
    a.sconn_family = AF_CONN;
    a.sconn_port = htons(port);
    a.sconn_addr = (void *)id;
    return a;
}

/* A non-blocking one-to-one AF_CONN socket for `id`, configured as WebRTC data channels need (RFC 8831 §6):
   no Nagle, stream reset (RFC 6525) enabled, receive info and the association-change, stream-reset and
   send-failed events, path-MTU discovery off with a fixed MTU, `streams` streams each way. NULL on failure. */
static inline struct socket *starling_sctp_socket(uintptr_t id, uint16_t localPort, uint16_t streams, uint32_t mtu) {
    usrsctp_register_address((void *)id);
    struct socket *s = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
    if (s == NULL) { usrsctp_deregister_address((void *)id); return NULL; }
    int on = 1;
    if (usrsctp_set_non_blocking(s, 1) < 0) goto fail;
    if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof(on)) < 0) goto fail;
    if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof(on)) < 0) goto fail;
    struct linger l; l.l_onoff = 1; l.l_linger = 0;
    if (usrsctp_setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0) goto fail;
    struct sctp_assoc_value reset; memset(&reset, 0, sizeof(reset));
    reset.assoc_id = SCTP_ALL_ASSOC; reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
    if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset, sizeof(reset)) < 0) goto fail;
    uint16_t events[] = { SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SEND_FAILED_EVENT };
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        struct sctp_event e; memset(&e, 0, sizeof(e));
        e.se_assoc_id = SCTP_ALL_ASSOC; e.se_type = events[i]; e.se_on = 1;
        if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_EVENT, &e, sizeof(e)) < 0) goto fail;
    }
    struct sctp_initmsg init; memset(&init, 0, sizeof(init));
    init.sinit_num_ostreams = streams; init.sinit_max_instreams = streams;
    if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof(init)) < 0) goto fail;
    struct sctp_paddrparams p; memset(&p, 0, sizeof(p));
    p.spp_assoc_id = 0; p.spp_flags = SPP_PMTUD_DISABLE; p.spp_pathmtu = mtu;
    if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &p, sizeof(p)) < 0) goto fail;
    struct sockaddr_conn local = starling_sctp_sconn(id, localPort);
    if (usrsctp_bind(s, (struct sockaddr *)&local, sizeof(local)) < 0) goto fail;
    return s;
fail:
    usrsctp_close(s);
    usrsctp_deregister_address((void *)id);
    return NULL;
}

/* Starts the association (non-blocking: EINPROGRESS is success). Both WebRTC peers connect; SCTP resolves
   the INIT collision (RFC 4960 §5.2.4). Returns 0 or errno. */
static inline int starling_sctp_connect(struct socket *s, uintptr_t id, uint16_t remotePort) {
    struct sockaddr_conn remote = starling_sctp_sconn(id, remotePort);
    if (usrsctp_connect(s, (struct sockaddr *)&remote, sizeof(remote)) < 0 && errno != EINPROGRESS) return errno;
    return 0;
}

/* Sends one message on `stream` with `ppid` (host order). `policy`: 0 reliable, 1 lifetime (`value` ms),
   2 max retransmits (`value`). Returns bytes sent, or -errno. */
static inline ssize_t starling_sctp_send(struct socket *s, const void *data, size_t length, uint16_t stream, uint32_t ppid,
                                         int unordered, int policy, uint32_t value) {
    struct sctp_sendv_spa spa; memset(&spa, 0, sizeof(spa));
    spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
    spa.sendv_sndinfo.snd_sid = stream;
    spa.sendv_sndinfo.snd_ppid = htonl(ppid);
    spa.sendv_sndinfo.snd_flags = SCTP_EOR | (unordered ? SCTP_UNORDERED : 0);
    if (policy != 0) {
        spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
        spa.sendv_prinfo.pr_policy = policy == 1 ? SCTP_PR_SCTP_TTL : SCTP_PR_SCTP_RTX;
        spa.sendv_prinfo.pr_value = value;
    }
    ssize_t n = usrsctp_sendv(s, data, length, NULL, 0, &spa, (socklen_t)sizeof(spa), SCTP_SENDV_SPA, 0);
    return n < 0 ? -errno : n;
}

/* What one usrsctp_recvv gave. */
typedef struct {
    ssize_t length;      /* bytes, or -errno (-EWOULDBLOCK when nothing is waiting) */
    int notification;    /* MSG_NOTIFICATION */
    int endOfRecord;     /* MSG_EOR */
    uint16_t stream;
    uint32_t ppid;       /* host order */
    int unordered;
} starling_sctp_received;

static inline starling_sctp_received starling_sctp_recv(struct socket *s, void *buffer, size_t capacity) {
    starling_sctp_received r; memset(&r, 0, sizeof(r));
    struct sctp_rcvinfo info; memset(&info, 0, sizeof(info));
    socklen_t infolen = sizeof(info);
    unsigned int infotype = 0;
    int flags = 0;
    struct sockaddr_conn from; socklen_t fromlen = sizeof(from);
    ssize_t n = usrsctp_recvv(s, buffer, capacity, (struct sockaddr *)&from, &fromlen, &info, &infolen, &infotype, &flags);
    if (n < 0) { r.length = -errno; return r; }
    r.length = n;
    r.notification = (flags & MSG_NOTIFICATION) != 0;
    r.endOfRecord = (flags & MSG_EOR) != 0;
    if (infotype == SCTP_RECVV_RCVINFO) {
        r.stream = info.rcv_sid;
        r.ppid = ntohl(info.rcv_ppid);
        r.unordered = (info.rcv_flags & SCTP_UNORDERED) != 0;
    }
    return r;
}

/* A notification read into `buffer`, decoded to what the association reports. */
typedef struct {
    uint16_t type;          /* SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT, SCTP_SEND_FAILED_EVENT, ... */
    uint16_t state;         /* assoc change: SCTP_COMM_UP, SCTP_COMM_LOST, ... */
    uint16_t resetFlags;    /* stream reset: SCTP_STREAM_RESET_INCOMING_SSN / OUTGOING_SSN / DENIED / FAILED */
    uint16_t streamCount;   /* stream reset: how many ids follow in `streams` */
    const uint16_t *streams;
} starling_sctp_notification;

static inline starling_sctp_notification starling_sctp_parse_notification(const void *buffer, size_t length) {
    starling_sctp_notification n; memset(&n, 0, sizeof(n));
    if (length < sizeof(struct sctp_tlv)) return n;
    const union sctp_notification *u = (const union sctp_notification *)buffer;
    n.type = u->sn_header.sn_type;
    if (n.type == SCTP_ASSOC_CHANGE && length >= sizeof(struct sctp_assoc_change)) {
        n.state = u->sn_assoc_change.sac_state;
    } else if (n.type == SCTP_STREAM_RESET_EVENT && length >= sizeof(struct sctp_stream_reset_event)) {
        n.resetFlags = u->sn_strreset_event.strreset_flags;
        size_t count = (length - sizeof(struct sctp_stream_reset_event)) / sizeof(uint16_t);
        n.streamCount = (uint16_t)count;
        n.streams = u->sn_strreset_event.strreset_stream_list;
    }
    return n;
}

/* Resets the outgoing side of `count` streams (RFC 6525 §5.1.2; closing a data channel, RFC 8831 §6.7).
   Returns 0 or errno. */
static inline int starling_sctp_reset_streams(struct socket *s, const uint16_t *streams, uint16_t count) {
    size_t size = sizeof(struct sctp_reset_streams) + count * sizeof(uint16_t);
    struct sctp_reset_streams *r = (struct sctp_reset_streams *)calloc(1, size);
    if (r == NULL) return ENOMEM;
    r->srs_assoc_id = SCTP_ALL_ASSOC;
    r->srs_flags = SCTP_STREAM_RESET_OUTGOING;
    r->srs_number_streams = count;
    memcpy(r->srs_stream_list, streams, count * sizeof(uint16_t));
    int result = usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_RESET_STREAMS, r, (socklen_t)size) < 0 ? errno : 0;
    free(r);
    return result;
}

static inline void starling_sctp_close(struct socket *s, uintptr_t id) {
    usrsctp_close(s);
    usrsctp_deregister_address((void *)id);
}
#endif
