/* -t: see console.h. The pty is the container's: its devpts instance was mounted
   with newinstance inside the rootfs, so the slave is not a host terminal. */
#define _GNU_SOURCE
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "../sync.h"
#include "helper.h"

void console_setup(int sync_fd) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail(WHARF_STEP_CONSOLE, errno, "open /dev/ptmx");
  if (unlockpt(master) < 0) fail(WHARF_STEP_CONSOLE, errno, "unlockpt");
  /* TIOCGPTPEER opens the slave through the master: no path lookup to race. */
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail(WHARF_STEP_CONSOLE, errno, "open the pty slave");
  char byte = 'T';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &master, sizeof master);
  ssize_t r;
  do r = sendmsg(sync_fd, &msg, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r != 1) fail(WHARF_STEP_CONSOLE, errno, "send the pty master");
  close(master);
  if (ioctl(slave, TIOCSCTTY, 0) < 0) fail(WHARF_STEP_CONSOLE, errno, "TIOCSCTTY");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) fail(WHARF_STEP_CONSOLE, errno, "dup2 the pty slave");
  if (slave > 2) close(slave);
}
