// Every mistake is reported in one build; the handler is still emitted, so
// the route that uses it adds no error of its own.
struct App;

impl App {
    #[tappass::governed(auto_open_session = "on", verbose)]
    fn chat(self) -> String {
        String::new()
    }
}

fn main() {
    let _ = App;
}
