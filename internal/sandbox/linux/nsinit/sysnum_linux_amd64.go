package nsinit

const sysSetns = 308
