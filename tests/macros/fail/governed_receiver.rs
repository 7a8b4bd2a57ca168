struct App;

impl App {
    #[tappass::governed]
    async fn chat(&self, session: tappass::Session) -> String {
        session.id().to_owned()
    }
}

fn main() {
    let _ = App;
}
