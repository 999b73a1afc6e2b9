#pragma once
// Python's html.unescape (3.11), which the CLIP text cleaning applies twice: numeric character
// references (decimal and hex, with the HTML5 replacement rules for invalid code points) and the
// 2,231 HTML5 named references, including the legacy names accepted without ";". One left-to-right
// pass; replacement text is not scanned again.

#include <string>
#include <string_view>

namespace sdxlw {

std::u32string html_unescape(std::u32string_view text);
// Same, on UTF-8 (throws std::invalid_argument on malformed UTF-8).
std::string html_unescape(std::string_view utf8);

}  // namespace sdxlw
