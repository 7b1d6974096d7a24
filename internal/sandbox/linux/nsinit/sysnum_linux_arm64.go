package nsinit

const sysSetns = 268
