# embed.cmake: turns web/wallboard.html into a C array (web_wallboard.c) at build time, so every
# callraftd serves the page with nothing to install beside it. Run by the custom command in
# CMakeLists.txt: cmake -DIN=... -DOUT=... -P web/embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "/* Generated from web/wallboard.html by web/embed.cmake: do not edit. */\n#include <stddef.h>\nconst unsigned char web_wallboard_html[] = {${body}0x00};\nconst size_t web_wallboard_html_len = ${bytes};\n")
